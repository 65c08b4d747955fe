"""Accessibility in Chromium: axe-core finds no serious or critical violation on any page
of the three roles (and the public ones), at 1280 and 390 px; input borders and the focus
ring stand out from their background by at least 3:1 (WCAG 1.4.11, which axe does not
measure)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal.db import utcnow
from portal.extensions import db
from portal.payouts import requesting
from portal.wallets.earnings import release_pending_earnings
from tests.conftest import LAPTOP, PHONE
from tests.factories import BookingFactory
from tests.payouts.conftest import credit, with_bank
from tests.support.browser import axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.stripe]


def _luminance(rgb: tuple[int, ...]) -> float:
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast of two CSS rgb()/rgba() colours (alpha ignored: ours are opaque)."""
    la, lb = (_luminance(tuple(int(x) for x in re.findall(r"\d+", c)[:3])) for c in (a, b))
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


@pytest.fixture
def journeys(student, tutor, admin, pay):
    """A little of everything: a paid lesson, an unpaid one, released earnings, a payout."""
    paid_lesson = BookingFactory(student=student, tutor=tutor)
    payment = pay(student, paid_lesson)
    BookingFactory(student=student, tutor=tutor, starts_at=utcnow() + timedelta(days=5))
    release_pending_earnings(utcnow() + timedelta(days=400))
    with_bank(tutor)
    credit(tutor, 5000)
    requesting.request_payout(tutor, amount=2000, payout_method="bank_transfer")
    db.session.commit()
    return payment


def _pages(student, tutor, payment):
    return {
        None: ["/", "/signin", "/signup"],
        student: ["/lessons", "/lessons?show=all", "/tutors", f"/tutors/{tutor.id}/book",
                  "/billing", "/billing/payments", f"/billing/payments/{payment.uuid}",
                  f"/billing/payments/{payment.uuid}/refund", "/billing/methods", "/account"],
        tutor: ["/lessons", "/earnings", "/payouts", "/payouts/settings", "/account"],
        "admin": ["/admin/", "/admin/lessons", "/admin/payments",
                  f"/admin/payments/{payment.uuid}", "/admin/invoices", "/admin/ledger/",
                  "/admin/wallets", f"/admin/wallets/{tutor.id}", "/admin/payouts",
                  "/admin/audit", "/admin/webhooks", "/admin/system", "/account"],
    }  # fmt: skip


def test_no_serious_or_critical_violations_on_any_page(
    page, sign_in, student, tutor, admin, journeys
):
    found = []
    for who, paths in _pages(student, tutor, journeys).items():
        page.context.clear_cookies()
        user = admin if who == "admin" else who
        if user is not None:
            sign_in(page, user)
        for path in paths:
            page.goto(path)
            for size in (LAPTOP, PHONE):
                page.set_viewport_size(size)
                found += [(path, size["width"], v["id"], v["help"], v["nodes"])
                          for v in axe_violations(page)]  # fmt: skip
            page.set_viewport_size(LAPTOP)
    assert found == []


def test_axe_does_report_a_broken_page(page):
    """The check can fail: an unlabelled field and a nameless button are caught."""
    page.goto("/signin")
    page.evaluate(
        """() => { document.querySelector('main').insertAdjacentHTML('beforeend',
             '<input type=text><button></button>'); }"""
    )
    assert {v["id"] for v in axe_violations(page)} >= {"button-name", "label"}


def test_input_borders_and_the_focus_ring_contrast_3_to_1(page, sign_in, tutor, journeys):
    sign_in(page, tutor)
    page.goto("/payouts")
    field = page.get_by_label("Amount")
    border = field.evaluate("e => getComputedStyle(e).borderTopColor")
    behind = field.evaluate("e => getComputedStyle(e.closest('.card')).backgroundColor")
    assert contrast(border, behind) >= 3, (border, behind)
    field.focus()  # a text field shows its focus ring however it got focus
    ring = page.evaluate("() => getComputedStyle(document.activeElement).outlineColor")
    width = page.evaluate("() => getComputedStyle(document.activeElement).outlineWidth")
    assert width != "0px"
    page_bg = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    for background in (behind, page_bg, "rgb(255, 255, 255)"):
        assert contrast(ring, background) >= 3, (ring, background)
