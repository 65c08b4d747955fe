"""Paging for pages (the API has its own count/next/previous shape in portal/api.py)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from portal.extensions import db

# Far past any real list; a larger page number would overflow the database's OFFSET.
MAX_PAGE = 1_000_000


@dataclass
class Page:
    items: list
    number: int
    per_page: int
    total: int

    @classmethod
    def of(cls, query: sa.Select, number: object, per_page: int = 20) -> Page:
        try:
            number = min(max(1, int(number or 1)), MAX_PAGE)
        except (TypeError, ValueError):
            number = 1
        total = db.session.scalar(
            sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
        )
        items = list(
            db.session.scalars(query.limit(per_page).offset((number - 1) * per_page)).unique()
        )
        return cls(items=items, number=number, per_page=per_page, total=total)

    @classmethod
    def single(cls, item) -> Page:
        return cls(items=[item], number=1, per_page=1, total=1)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def has_previous(self) -> bool:
        return self.number > 1
