"""Helpers shared by the JSON API of every feature, under `/api/v1/`.

`api_blueprint` and `paginate` (lists are `{"count", "next", "previous", "results"}`)
serve every module. Requests and answers are described by schemas (`portal.contract`):
`json_body`, `int_field`, `str_field`, `query_int` and `iso` are the hand-made parsing
of the modules not described yet, and go with the last of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Blueprint, request

from portal.contract.schemas import DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE, PageQuery
from portal.errors import ValidationError
from portal.extensions import db
from portal.input import int_filter


def api_blueprint(name: str, import_name: str, prefix: str) -> Blueprint:
    return Blueprint(name, import_name, url_prefix=f"/api/v1{prefix}")


def json_body(allowed: set[str] | None = None, *, required: bool = True) -> dict:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    if not request.data and not required:
        return {}
    data = request.get_json(silent=True)
    if data is None and not request.data:
        data = {}
    if not isinstance(data, dict):
        raise ValidationError("The request body must be a JSON object.")
    if allowed is not None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValidationError(
                f"Unknown field(s): {', '.join(unknown)}.",
                fields={name: ["Unknown field."] for name in unknown},
            )
    return data


def int_field(
    data: dict,
    name: str,
    *,
    required: bool = True,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    value = data.get(name)
    if value is None:
        if required:
            raise ValidationError(
                f"{name} is required.", fields={name: ["This field is required."]}
            )
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{name} must be an integer.", fields={name: ["Must be an integer."]})
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValidationError(f"{name} is out of range.", fields={name: ["Out of range."]})
    return value


def str_field(data: dict, name: str, *, required: bool = True, max_length: int = 255) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise ValidationError(
                f"{name} is required.", fields={name: ["This field is required."]}
            )
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string.", fields={name: ["Must be a string."]})
    if len(value) > max_length:
        raise ValidationError(
            f"{name} is too long.", fields={name: [f"At most {max_length} characters."]}
        )
    return value


def query_int(name: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    value = int_filter(request.args, name, minimum=minimum, maximum=maximum)
    return default if value is None else value


def paginate(
    select: sa.Select,
    serialize: Callable[[object], object] | None = None,
    *,
    serialize_page: Callable[[list], list] | None = None,
    page: PageQuery | None = None,
) -> dict:
    """`{"count", "next", "previous", "results"}` for a select, paged by ?page=&page_size=.

    `page` is the operation's validated query (`PageQuery` or a subclass); without it the
    query string is read here. `serialize` turns one row into its answer; `serialize_page`
    takes the page's rows at once, for serializers that look up related rows in one query
    rather than one per row.
    """
    if page is None:
        page = PageQuery(
            page=query_int("page", 1, maximum=MAX_PAGE),
            page_size=query_int("page_size", DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE),
        )
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


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
