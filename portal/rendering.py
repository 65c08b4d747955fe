"""One view serves both a page and its htmx fragments.

A fragment is a named block of the page template. htmx sends `HX-Target` with the id of
the element it will swap; boosted navigation also sends `HX-Request` but wants the whole
page, so the target (not `HX-Request`) decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from flask import current_app, render_template, request
from jinja2_fragments.flask import render_block


def htmx_target() -> str | None:
    if not request.headers.get("HX-Request") or request.headers.get("HX-Boosted"):
        return None
    return request.headers.get("HX-Target")


def render_page(
    template: str,
    context: Mapping[str, object] | None = None,
    /,
    *,
    fragments: dict[str, str] | None = None,
    http_status: int = 200,
):
    """The page, or the fragment htmx asked for, with its HTTP status.

    The template's variables come as one mapping, apart from the helper's own keywords,
    so no template variable (a `status` filter, say) can become the response's status.
    """
    context = dict(context or {})
    target = htmx_target()
    if target and fragments and target in fragments:
        return render_block(template, fragments[target], **context), http_status
    return render_template(template, **context), http_status


def portal_url(endpoint: str, **values) -> str:
    """An absolute link into the portal, also from a worker with no request to go by."""
    base = urlsplit(current_app.config["PORTAL_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http"
    )
    return adapter.build(endpoint, values, force_external=True)
