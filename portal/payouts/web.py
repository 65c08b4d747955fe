"""Small pieces the payout pages and API share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from markupsafe import Markup

from portal.extensions import db


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit what the block did, or roll all of it back if it raised."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


class PendingPayoutsLabel:
    """The admin nav's "Payouts" label with how many payouts wait for approval.

    Counted when the navigation is drawn (one indexed COUNT), so every admin page shows
    the current number without the views passing it around.
    """

    text = "Payouts"

    def __str__(self) -> str:
        return self.text

    def __html__(self) -> str:
        from portal.payouts.queue import pending_count

        count = pending_count()
        if not count:
            return self.text
        return Markup('{} <span class="count" title="{} waiting for approval">{}</span>').format(
            self.text, count, count
        )
