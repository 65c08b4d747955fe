"""The admin navigation's "Webhooks" label, with how many events failed."""

from __future__ import annotations

from markupsafe import Markup

from portal.webhooks.services import failed_count


class FailedWebhooksLabel:
    """Counted when the navigation is drawn (one indexed COUNT), like the payouts label."""

    text = "Webhooks"

    def __str__(self) -> str:
        return self.text

    def __html__(self) -> str:
        failed = failed_count()
        if not failed:
            return self.text
        return Markup(
            '{} <span class="count">{}<span class="sr-only"> failed</span></span>'
        ).format(self.text, failed)
