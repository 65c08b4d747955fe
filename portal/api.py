"""Helpers shared by the JSON API of every feature, under `/api/v1/`.

`api_blueprint` and `paginate` (lists are `{"count", "next", "previous", "results"}`)
serve every module. Requests and answers are described, and checked, by schemas
(`portal.contract`): no module parses request data by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Blueprint, request

from portal.contract.schemas import PageQuery
from portal.extensions import db


def api_blueprint(name: str, import_name: str, prefix: str) -> Blueprint:
    return Blueprint(name, import_name, url_prefix=f"/api/v1{prefix}")


def paginate(
    select: sa.Select,
    serialize: Callable[[object], object] | None = None,
    *,
    serialize_page: Callable[[list], list] | None = None,
    page: PageQuery,
) -> dict:
    """`{"count", "next", "previous", "results"}` for a select, paged by ?page=&page_size=.

    `page` is the operation's validated query (`PageQuery` or a subclass). `serialize`
    turns one row into its answer; `serialize_page` takes the page's rows at once, for
    serializers that look up related rows in one query rather than one per row.
    """
    page, size = page.page, page.page_size
    count = db.session.scalar(
        sa.select(sa.func.count()).select_from(select.order_by(None).subquery())
    )
    rows = db.session.scalars(select.limit(size).offset((page - 1) * size)).all()
    return {
        "count": count,
        "next": _page_url(page + 1) if page * size < count else None,
        "previous": _page_url(page - 1) if page > 1 else None,
        "results": serialize_page(rows) if serialize_page else [serialize(row) for row in rows],
    }


def _page_url(page: int) -> str:
    args = request.args.to_dict()
    args["page"] = str(page)
    return f"{request.base_url}?{urlencode(args)}"
