"""Lessons paid for by something other than a card payment: a subscription's quota.

A covered lesson is ``scheduled`` at once, without a payment, with the subscription and
the period its lesson was taken from. Bookings sits below the subscriptions that cover
lessons (they use bookings, wallets and the ledger), so it never imports them: it calls
the `LessonCover` that the app factory installs (`portal.create_app`), at the three
moments a covered lesson needs it. Each call runs inside the booking service's unit of
work, with the booking row (or, for a new one, the tutor's and student's rows) locked.
"""

from __future__ import annotations

from typing import Protocol

from flask import Flask, current_app

from portal.accounts.models import User
from portal.bookings.models import Booking
from portal.errors import Conflict

EXTENSION = "portal.lesson_cover"


class LessonCover(Protocol):
    def take(self, booking: Booking) -> None:
        """Cover the new lesson: set its ``subscription_id`` and ``subscription_period_id``
        from the student's quota, or raise `Conflict` (``quota_exhausted``,
        ``no_active_subscription``)."""

    def give_back(self, booking: Booking) -> None:
        """The covered lesson was cancelled: its lesson goes back to its period."""

    def completed(self, booking: Booking) -> None:
        """The covered lesson happened: its tutor earns the lesson's share."""

    def lessons_left(self, student: User) -> int | None:
        """Lessons the student can still book from a subscription now (0 when the quota
        is used up), or None when no subscription covers lessons (the booking form then
        offers none)."""


def install_cover(app: Flask, cover: LessonCover) -> None:
    app.extensions[EXTENSION] = cover


def lesson_cover() -> LessonCover:
    cover = current_app.extensions.get(EXTENSION)
    if cover is None:
        raise Conflict(
            "Lessons cannot be covered by a subscription here.", code="no_active_subscription"
        )
    return cover


def covered_lessons_left(student: User) -> int | None:
    """What the booking form offers: lessons left to cover, or None (nothing to offer)."""
    cover = current_app.extensions.get(EXTENSION)
    return cover.lessons_left(student) if cover is not None else None
