"""Where a redirect may send the browser: only to a path on this site.

A target taken from the request (sign-in's `next`, the `Referer` a refused button goes
back to) is read the way a browser would read it before it is trusted: tabs and newlines
dropped, `\\` taken as `/`, dot segments (also `%2e`) resolved, and then refused if it
names a scheme or a host, or if the path left would start with `//`. The path that
passed is the one returned, so the `Location` header is exactly what was checked.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from flask import request

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_STRIPPED = str.maketrans("", "", "\t\n\r")


def local_path_or(target: str | None, default: str) -> str:
    """`target` as a path on this site (an absolute URL of our own host becomes its path),
    or `default` when the browser could read it as anywhere else."""
    if not isinstance(target, str) or not target:
        return default
    path = _own_path(target.translate(_STRIPPED).strip(" \x00").replace("\\", "/"))
    if path is None or _CONTROL.search(path):
        return default
    path, _, query = path.partition("?")
    path = _remove_dot_segments(path.partition("#")[0])
    decoded = unquote(path).replace("\\", "/")
    if not path.startswith("/") or path.startswith("//") or decoded.startswith("//"):
        return default
    if _CONTROL.search(decoded):
        return default
    return path + (f"?{query}" if query else "")


def _own_path(target: str) -> str | None:
    """The target's path and query when it is a path or a URL of this very site."""
    if not _SCHEME.match(target):
        return target
    parts = urlsplit(target)
    own = urlsplit(request.host_url)
    if parts.scheme.lower() != own.scheme or parts.netloc.lower() != own.netloc.lower():
        return None
    if not target.lower().startswith(f"{own.scheme}://"):
        return None  # "http:/\\host" and friends: leave the reading to nobody
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, with `%2e` counted as a dot as browsers count it."""
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        plain = segment.lower().replace("%2e", ".")
        last = index == len(segments) - 1
        if plain == ".":
            if last:
                output.append("")
            continue
        if plain == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
            continue
        output.append(segment)
    return "/".join(output)
