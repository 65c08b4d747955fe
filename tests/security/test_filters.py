"""Every filter of every list page: an unknown value of a filter with fixed values, or a
control character in any filter, is refused (400, or the page's filter form with its
errors), never a 500 and never echoed into a response header."""

from __future__ import annotations

import pytest

# (who, path, filter, kind): "choice" filters take fixed values; "text" filters search.
FILTERS = [
    ("admin", "/admin/lessons", "status", "choice"),
    ("admin", "/admin/lessons", "page", "text"),
    ("admin", "/admin/payments", "status", "choice"),
    ("admin", "/admin/payments", "payment_type", "choice"),
    ("admin", "/admin/payments", "tutor", "choice"),
    ("admin", "/admin/payments", "date_from", "choice"),
    ("admin", "/admin/payments", "date_to", "choice"),
    ("admin", "/admin/payments", "student", "text"),
    ("admin", "/admin/payments", "page", "text"),
    ("admin", "/admin/payouts", "status", "choice"),
    ("admin", "/admin/payouts", "method", "choice"),
    ("admin", "/admin/payouts", "tutor", "text"),
    ("admin", "/admin/payouts", "page", "text"),
    ("admin", "/admin/payouts/tabs", "status", "choice"),
    ("admin", "/admin/invoices", "page", "text"),
    ("admin", "/admin/invoices", "status", "choice"),
    ("admin", "/admin/invoices", "kind", "choice"),
    ("admin", "/admin/invoices", "from", "choice"),
    ("admin", "/admin/invoices", "to", "choice"),
    ("admin", "/admin/invoices/export.csv", "status", "choice"),
    ("admin", "/admin/invoices/export.csv", "kind", "choice"),
    ("admin", "/admin/invoices/pdfs.zip", "month", "choice"),
    ("admin", "/admin/subscriptions", "status", "choice"),
    ("admin", "/admin/subscriptions", "page", "text"),
    ("admin", "/admin/", "period", "choice"),
    ("admin", "/admin/", "q", "text"),
    ("admin", "/admin/audit", "action", "text"),
    ("admin", "/admin/audit", "object_type", "text"),
    ("admin", "/admin/audit", "object_id", "text"),
    ("admin", "/admin/audit", "actor", "text"),
    ("admin", "/admin/audit", "from", "choice"),
    ("admin", "/admin/audit", "to", "choice"),
    ("admin", "/admin/webhooks", "status", "choice"),
    ("admin", "/admin/webhooks", "type", "text"),
    ("admin", "/admin/ledger/", "account", "text"),
    ("admin", "/admin/ledger/", "check", "choice"),
    ("tutor", "/earnings", "type", "choice"),
    ("tutor", "/earnings", "from", "choice"),
    ("tutor", "/earnings", "to", "choice"),
    ("tutor", "/earnings", "before", "text"),
    ("tutor", "/earnings", "after", "text"),
    ("tutor", "/earnings/statement.csv", "type", "choice"),
    ("tutor", "/payouts", "page", "text"),
    ("student", "/lessons", "show", "choice"),
    ("student", "/lessons", "page", "text"),
    ("student", "/billing/payments", "page", "text"),
    ("student", "/billing/invoices", "page", "text"),
]

PROBES = ["\x00", "paid\x00", "\x01x", "x\x7f", "200 OK\r\nX-Injected: 1", "500"]


def _user(who, admin, tutor, student):
    return {"admin": admin, "tutor": tutor, "student": student}[who]


def _no_reflection(response) -> None:
    assert "X-Injected" not in response.headers
    for value in response.headers.values():
        assert "\x00" not in value and "\r" not in value and "\n" not in value


@pytest.mark.parametrize("who, path, name, kind", FILTERS)
def test_a_control_character_in_a_filter_is_refused(
    login, admin, tutor, student, who, path, name, kind
):
    browser = login(_user(who, admin, tutor, student))
    for probe in PROBES[:-1]:
        response = browser.get(path, query_string={name: probe})
        assert response.status_code in (400, 422), (probe, response.status_code)
        _no_reflection(response)


@pytest.mark.parametrize(
    "who, path, name", [(w, p, n) for w, p, n, kind in FILTERS if kind == "choice"]
)
def test_an_unknown_value_of_a_choice_filter_is_refused(
    login, admin, tutor, student, who, path, name
):
    browser = login(_user(who, admin, tutor, student))
    for probe in ("no-such-value", "500", "404 Not Found"):
        response = browser.get(path, query_string={name: probe})
        assert response.status_code in (400, 422), (probe, response.status_code)
        assert response.status_code != 500
        _no_reflection(response)


@pytest.mark.parametrize(
    "who, path, name", [(w, p, n) for w, p, n, kind in FILTERS if kind == "text"]
)
def test_a_search_filter_takes_any_printable_text(login, admin, tutor, student, who, path, name):
    browser = login(_user(who, admin, tutor, student))
    response = browser.get(path, query_string={name: "no such thing 500"})
    assert response.status_code == 200, response.status_code


@pytest.mark.parametrize("status", ["pending_payment", "scheduled", "completed", "cancelled"])
def test_each_lesson_status_tab_is_a_page(login, admin, status):
    response = login(admin).get("/admin/lessons", query_string={"status": status})
    assert response.status_code == 200
    assert response.mimetype == "text/html"


def test_every_admin_list_page_is_covered(app):
    """A new admin list page joins FILTERS (or says here why it has no filters)."""
    # Forms and fixed lists: nothing in their query string is read.
    no_filters = {
        "/admin/payouts/settings",
        "/admin/system/",
        "/admin/system/emails/",
        "/admin/invoices/new",
        "/admin/invoices/overdue",
        "/admin/plans",
        "/admin/wallets",
    }
    covered = {path for _, path, _, _ in FILTERS}
    pages = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin") and "GET" in rule.methods and not rule.arguments
    }
    assert pages - covered - no_filters == set()
