"""Secrets kept under `instance/` for the development defaults (a leaf module)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def instance_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in `path`, made with `make()` the first time (mode 600).

    For the development defaults only: a demo keeps its key across restarts, and nobody
    shares one with another demo. O_EXCL makes two processes starting at once agree.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(make() + "\n")
    return path.read_text().strip()
