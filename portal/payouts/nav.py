"""The admin navigation's "Payouts" label, with how many payouts wait for approval."""

from __future__ import annotations

from flask import g
from markupsafe import Markup

from portal.payouts.admin_queue import pending_count

_COUNTED = "pending_payouts_counted"


class PendingPayoutsLabel:
    """Counted when the navigation is drawn (one indexed COUNT), so every admin page shows
    the current number without the views passing it around; a page that has just counted
    them (the queue, unfiltered) hands its number over instead (`counted`).
    """

    text = "Payouts"

    def __str__(self) -> str:
        return self.text

    def __html__(self) -> str:
        count = g.get(_COUNTED)
        return Markup("{} {}").format(self.text, badge(pending_count() if count is None else count))


def counted(count: int) -> None:
    """This request has just counted the pending payouts: the navigation shows `count`."""
    g.setdefault(_COUNTED, count)


def badge(count: int, *, oob: bool = False) -> Markup:
    """The count beside the label (hidden at zero, so an htmx answer can still fill it)."""
    swap = Markup(' hx-swap-oob="true"') if oob else ""
    if not count:
        return Markup('<span class="count" id="nav-pending-payouts"{} hidden></span>').format(swap)
    return Markup(
        '<span class="count" id="nav-pending-payouts"{} title="{} waiting for approval">{}</span>'
    ).format(swap, count, count)
