"""The admin navigation's "Webhooks" entry, with the number of failed events."""

from __future__ import annotations

from markupsafe import Markup


def webhooks_label() -> Markup:
    from portal.webhooks.services import failed_count

    failed = failed_count()
    if not failed:
        return Markup("Webhooks")
    return Markup(
        'Webhooks <span class="count">{}<span class="sr-only"> failed</span></span>'
    ).format(failed)
