"""The admin payout queue: tabs by status with counts, filters, and rows with what is owed.

A queue page costs the same few queries however many payouts wait: one GROUP BY for
the tab counts (which is also the page's total) and one for the page's rows joined to
the tutor and the wallet.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from portal.accounts.models import User
from portal.db import parse_id
from portal.errors import ValidationError
from portal.extensions import db
from portal.pagination import MAX_PAGE, Page
from portal.payouts.models import OPEN_STATUSES, PayoutMethod, PayoutRequest, PayoutStatus
from portal.wallets.models import TutorWallet

TABS = tuple(PayoutStatus)
PER_PAGE = 50
MAX_TUTOR_FILTER = 120


@dataclass(frozen=True)
class QueueFilters:
    status: str = PayoutStatus.PENDING
    tutor: str = ""
    method: str = ""

    def as_args(self, **changes) -> dict[str, str]:
        # Read field by field: `asdict` deep-copies, and a queue page asks for these often.
        args = {name: value for name in self.__dataclass_fields__ if (value := getattr(self, name))}
        args.update(changes)
        return args


def parse_filters(args, *, default_status: str = PayoutStatus.PENDING) -> QueueFilters:
    """Filters from a query string: ?status=&tutor=&method= (a bad value is a 400)."""
    status = (args.get("status") or default_status).strip()
    if status not in TABS and status != "all":
        raise ValidationError(
            f"Unknown status {status!r}.", fields={"status": [f"One of: {', '.join(TABS)}."]}
        )
    method = (args.get("method") or args.get("payout_method") or "").strip()
    if method and method not in set(PayoutMethod):
        raise ValidationError("Choose bank_transfer or stripe.",
                              fields={"method": ["bank_transfer or stripe."]})  # fmt: skip
    tutor = (args.get("tutor") or args.get("tutor_id") or "").strip()
    if len(tutor) > MAX_TUTOR_FILTER:
        raise ValidationError("The tutor filter is too long.", fields={"tutor": ["Too long."]})
    return QueueFilters(status=status, tutor=tutor, method=method)


def _filtered(query: sa.Select, filters: QueueFilters) -> sa.Select:
    if filters.method:
        query = query.where(PayoutRequest.payout_method == filters.method)
    if filters.tutor:
        tutor_id = parse_id(filters.tutor)
        if tutor_id is not None:
            return query.where(PayoutRequest.tutor_id == tutor_id)
        text = filters.tutor.lower()
        tutors = sa.select(User.id).where(
            sa.or_(
                sa.func.lower(User.name).contains(text, autoescape=True),
                User.email.contains(text, autoescape=True),
            )
        )
        query = query.where(PayoutRequest.tutor_id.in_(tutors))
    return query


def status_counts(filters: QueueFilters) -> dict[str, int]:
    """How many payouts each tab holds, under the tutor and method filters."""
    query = sa.select(PayoutRequest.status, sa.func.count()).group_by(PayoutRequest.status)
    counts = dict(db.session.execute(_filtered(query, filters)).all())
    return {status: counts.get(status, 0) for status in TABS}


def pending_count() -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(PayoutRequest)
        .where(PayoutRequest.status == PayoutStatus.PENDING)
    )


@dataclass
class QueueRow:
    payout: PayoutRequest
    tutor_name: str
    tutor_email: str
    available: int
    pending: int
    in_flight: int

    @property
    def in_debt(self) -> bool:
        """The tutor owes money back: the payout is held until later earnings repay it."""
        return self.available < 0

    @property
    def owed(self) -> int:
        """Everything the platform holds for the tutor: pending + available + in flight."""
        return self.pending + self.available + self.in_flight


def _rows_query() -> sa.Select:
    return (
        sa.select(
            PayoutRequest,
            User.name,
            User.email,
            TutorWallet.available,
            TutorWallet.pending,
            TutorWallet.in_flight,
        )  # fmt: skip
        .join(User, User.id == PayoutRequest.tutor_id)
        .join(TutorWallet, TutorWallet.id == PayoutRequest.wallet_id)
    )


def _ordered(query: sa.Select, status: str) -> sa.Select:
    # Work waits oldest first; history reads newest first.
    if status in OPEN_STATUSES:
        return query.order_by(PayoutRequest.created_at, PayoutRequest.id)
    return query.order_by(PayoutRequest.created_at.desc(), PayoutRequest.id.desc())


def queue_page(filters: QueueFilters, number: object, counts: dict[str, int]) -> Page:
    """One page of the chosen tab; `counts` (from `status_counts`) gives its total."""
    page = Page(items=[], number=_page_number(number), per_page=PER_PAGE,
                total=counts.get(filters.status, 0))  # fmt: skip
    # The page's ids first, straight off the (status, created_at, id) index; then the joins
    # for those rows only, whatever the planner believes about the table's size.
    ids = _filtered(sa.select(PayoutRequest.id), filters)
    ids = _ordered(ids.where(PayoutRequest.status == filters.status), filters.status)
    ids = ids.limit(PER_PAGE).offset((page.number - 1) * PER_PAGE)
    query = _ordered(_rows_query().where(PayoutRequest.id.in_(ids.scalar_subquery())),
                     filters.status)  # fmt: skip
    page.items = [QueueRow(*row) for row in db.session.execute(query).all()]
    return page


def _page_number(value: object) -> int:
    try:
        return min(max(1, int(value or 1)), MAX_PAGE)
    except (TypeError, ValueError):
        return 1


def queue_row(payout: PayoutRequest) -> QueueRow:
    """The queue row of one payout (after an action on it)."""
    row = db.session.execute(_rows_query().where(PayoutRequest.id == payout.id)).one()
    return QueueRow(*row)


def open_rows_of_tutor(tutor_id: int) -> list[QueueRow]:
    """Rows of the tutor's open payouts: their figures change with any one of them."""
    query = _rows_query().where(
        PayoutRequest.tutor_id == tutor_id, PayoutRequest.status.in_(OPEN_STATUSES)
    )
    return [QueueRow(*row) for row in db.session.execute(query).all()]


def admin_list(filters: QueueFilters) -> sa.Select:
    """The API's admin list: payouts in `filters.status` ("all": every status)."""
    query = _filtered(sa.select(PayoutRequest), filters)
    if filters.status == "all":
        return query.order_by(PayoutRequest.created_at, PayoutRequest.id)
    return _ordered(query.where(PayoutRequest.status == filters.status), filters.status)
