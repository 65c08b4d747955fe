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
        count = pending_count()
        if not count:
            return self.text
        return Markup('{} <span class="count" title="{} waiting for approval">{}</span>').format(
            self.text, count, count
        )
