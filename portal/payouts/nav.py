"""The admin navigation's "Payouts" label, with how many payouts wait for approval."""

from __future__ import annotations

from markupsafe import Markup

from portal.payouts.admin_queue import pending_count


class PendingPayoutsLabel:
    """Counted when the navigation is drawn (one indexed COUNT), so every admin page shows
    the current number without the views passing it around.
    """

    text = "Payouts"

    def __str__(self) -> str:
        return self.text

    def __html__(self) -> str:
        return Markup("{} {}").format(self.text, badge(pending_count()))


def badge(count: int, *, oob: bool = False) -> Markup:
    """The count beside the label (hidden at zero, so an htmx answer can still fill it)."""
    swap = Markup(' hx-swap-oob="true"') if oob else ""
    if not count:
        return Markup('<span class="count" id="nav-pending-payouts"{} hidden></span>').format(swap)
    return Markup(
        '<span class="count" id="nav-pending-payouts"{} title="{} waiting for approval">{}</span>'
    ).format(swap, count, count)
