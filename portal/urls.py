"""URL safety: where a redirect may send the user. A leaf module, so error handling,
sign-in and any view can keep redirects on this site without importing each other."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from flask import request


def local_path_or(target: str | None, default: str) -> str:
    """`target` if it points inside this site (a path, or our own host), else `default`."""
    if not target:
        return default
    parts = urlsplit(urljoin(request.host_url, target))
    host = urlsplit(request.host_url)
    if parts.scheme not in ("http", "https") or parts.netloc != host.netloc:
        return default
    if target.startswith("//") or "\\" in target:
        return default
    return parts.path + (f"?{parts.query}" if parts.query else "")
