"""Who may open what: every route, every role.

Anonymous users get 401 from the API and a redirect to sign-in from pages, on every
route but the public ones. Roles and other users' objects are checked route by route.
"""

import re

import pytest

from tests import factories

PUBLIC = {"static", "accounts.home", "accounts.signin", "accounts.signup", "accounts.signout"}
# A forgotten password is reset without signing in (the link is the credential).
PUBLIC |= {"password_reset.forgot", "password_reset.reset"}
# Health is open to load balancers and says nothing secret; metrics have their own
# token or addresses (tests/system).
PUBLIC |= {"health.healthz", "health.readyz", "metrics.metrics"}
# The plans on offer are open to anybody.
PUBLIC |= {"subscriptions_api.plans"}
# The API's contract and its reference are for anybody writing a client.
PUBLIC |= {"contract.openapi_json", "contract.docs"}


def _concrete(rule) -> str:
    # Fill every converter with an id that exists for nobody: access is checked before lookup.
    path = re.sub(r"<uuid:[^<>]+>", "00000000-0000-4000-8000-000000000001", rule.rule)
    return re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "1", path)


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC or getattr(
            app.view_functions[rule.endpoint], "_csrf_exempt", False
        ):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, _concrete(rule)


def test_anonymous_is_refused_everywhere(app, anon):
    checked = 0
    for method, path in _routes(app):
        response = (
            anon.api(method, path, json={})
            if path.startswith("/api/")
            else (anon.get(path) if method == "GET" else anon.post(path))
        )
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
            assert response.json["error"]["code"] == "not_authenticated"
        else:
            assert response.status_code == 302, (method, path)
            assert "/signin" in response.headers["Location"], (method, path)
        checked += 1
    assert checked > 10


# (method, path template, {role: expected status}); {b} is a booking of somebody else.
MATRIX = [
    ("GET", "/lessons", {"student": 200, "tutor": 200, "admin": 403}),
    ("GET", "/tutors", {"student": 200, "tutor": 200, "admin": 200}),
    ("GET", "/tutors/{t}/book", {"student": 200, "tutor": 403, "admin": 403}),
    ("GET", "/account", {"student": 200, "tutor": 200, "admin": 200}),
    ("GET", "/account/profile", {"student": 200, "tutor": 200, "admin": 200}),
    ("GET", "/account/password", {"student": 200, "tutor": 200, "admin": 200}),
    ("GET", "/account/notifications", {"student": 200, "tutor": 200, "admin": 200}),
    ("GET", "/admin/", {"student": 403, "tutor": 403, "admin": 200}),
    ("GET", "/admin/lessons", {"student": 403, "tutor": 403, "admin": 200}),
    ("GET", "/admin/invoices?status=open", {"student": 403, "tutor": 403, "admin": 200}),
    ("GET", "/admin/invoices/export.csv", {"student": 403, "tutor": 403, "admin": 200}),
    ("GET", "/admin/invoices/pdfs.zip?month=2026-11", {"student": 403, "tutor": 403, "admin": 200}),
    ("GET", "/earnings/statements/{b}.pdf", {"student": 403, "tutor": 404, "admin": 403}),
    ("POST", "/lessons/{b}/complete", {"student": 403, "tutor": 404, "admin": 302}),
    ("POST", "/lessons/{b}/cancel", {"student": 404, "tutor": 404, "admin": 302}),
    ("GET", "/api/v1/me/", {"student": 200, "tutor": 200, "admin": 200}),
    ("GET", "/api/v1/tutors/", {"student": 200, "tutor": 200, "admin": 200}),
    ("GET", "/api/v1/bookings/", {"student": 200, "tutor": 200, "admin": 200}),
    ("POST", "/api/v1/bookings/", {"student": 400, "tutor": 403, "admin": 403}),
    ("GET", "/api/v1/bookings/{b}/", {"student": 404, "tutor": 404, "admin": 200}),
    ("POST", "/api/v1/bookings/{b}/complete/", {"student": 403, "tutor": 404, "admin": 200}),
    ("POST", "/api/v1/bookings/{b}/cancel/", {"student": 404, "tutor": 404, "admin": 200}),
    ("GET", "/api/v1/subscriptions/plans/", {"student": 200, "tutor": 200, "admin": 200}),
    ("POST", "/api/v1/subscriptions/", {"student": 400, "tutor": 403, "admin": 403}),
    ("GET", "/api/v1/subscriptions/current/", {"student": 404, "tutor": 403, "admin": 403}),
    ("POST", "/api/v1/subscriptions/cancel/", {"student": 404, "tutor": 403, "admin": 403}),
    ("POST", "/api/v1/subscriptions/reactivate/", {"student": 404, "tutor": 403, "admin": 403}),
    ("POST", "/api/v1/subscriptions/change/", {"student": 400, "tutor": 403, "admin": 403}),
    ("GET", "/api/v1/subscriptions/quota/", {"student": 200, "tutor": 403, "admin": 403}),
]


@pytest.mark.parametrize("role", ["student", "tutor", "admin"])
def test_role_matrix(role, login):
    from portal.bookings.models import BookingStatus

    user = factories.UserFactory(role=role)
    browser = login(user)
    for method, template, expected in MATRIX:
        # A fresh scheduled booking between two other people for every row.
        booking = factories.BookingFactory(status=BookingStatus.SCHEDULED)
        path = template.format(b=booking.id, t=booking.tutor_id)
        if path.startswith("/api/"):
            response = browser.api(method, path, json={} if method == "POST" else None)
        else:
            response = browser.get(path) if method == "GET" else browser.post(path)
        response.close()  # a streamed export ends here, in order, not when collected
        assert response.status_code == expected[role], (role, method, path, response.status_code)
