"""The admin's webhook event log: list, filters, detail, Replay, and the failed count."""

from __future__ import annotations

import re

import pytest

from portal.extensions import db
from portal.webhooks import handlers
from portal.webhooks.models import EventStatus
from portal.webhooks.tasks import MAX_RETRIES
from tests.webhooks.conftest import event_body, plain_invoice, stored


@pytest.fixture
def events(deliver, monkeypatch):
    """One processed, one ignored and one failed event."""
    processed = event_body("invoice.paid", plain_invoice())
    ignored = event_body("customer.created", {"id": "cus_1"})
    failed = event_body("invoice.payment_failed", plain_invoice("in_2", "open"))
    deliver(processed), deliver(ignored)
    monkeypatch.setitem(handlers.HANDLERS, failed["type"], _boom)
    deliver(failed)
    monkeypatch.undo()
    return {"processed": processed, "ignored": ignored, "failed": failed}


def _boom(event):
    raise ValueError("unexpected <b>markup</b>")


def _ids(html: str) -> list[str]:
    return re.findall(r"<code>(evt_[A-Za-z0-9_]+)</code></a>", html)


def test_admins_see_every_event_newest_first(login, admin, events):
    html = login(admin).get("/admin/webhooks").get_data(as_text=True)
    assert _ids(html) == [
        events["failed"]["id"],
        events["ignored"]["id"],
        events["processed"]["id"],
    ]
    assert "1 failed" in html
    # The reason is shown, escaped.
    assert "unexpected &lt;b&gt;markup&lt;/b&gt;" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=failed", ["failed"]),
        ("status=ignored", ["ignored"]),
        ("type=invoice.paid", ["processed"]),
        ("type=invoice.paid&status=failed", []),
        ("type=" + "x" * 300, ["failed", "ignored", "processed"]),
    ],
)
def test_events_filter_by_type_and_status(login, admin, events, query, expected):
    html = login(admin).get(f"/admin/webhooks?{query}").get_data(as_text=True)
    assert _ids(html) == [events[name]["id"] for name in expected]
    if not expected:
        assert "No webhook events here." in html


def test_an_unknown_status_filter_is_400(login, admin, events):
    assert login(admin).get("/admin/webhooks?status=bogus").status_code == 400


def test_an_htmx_filter_gets_only_the_table(login, admin, events):
    response = login(admin).get(
        "/admin/webhooks?status=failed", headers={"HX-Request": "true", "HX-Target": "events"}
    )
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="events"')
    assert "<nav" not in html
    assert _ids(html) == [events["failed"]["id"]]


def test_the_admin_nav_counts_failed_events(login, admin, events):
    html = login(admin).get("/admin/").get_data(as_text=True)
    assert re.search(
        r'href="/admin/webhooks"[^>]*>Webhooks <span class="count">1'
        r'<span class="sr-only"> failed</span></span>',
        html,
    )


def test_the_nav_shows_no_count_when_nothing_failed(login, admin, deliver):
    deliver(event_body("invoice.paid", plain_invoice()))
    html = login(admin).get("/admin/").get_data(as_text=True)
    assert re.search(r'href="/admin/webhooks"\s*>Webhooks</a>', html)


def test_the_detail_shows_the_event_and_its_payload(login, admin, events):
    row = stored(events["failed"]["id"])
    html = login(admin).get(f"/admin/webhooks/{row.id}").get_data(as_text=True)
    assert events["failed"]["id"] in html
    assert "invoice.payment_failed" in html
    assert "Failed:</strong> ValueError: unexpected &lt;b&gt;markup&lt;/b&gt;" in html
    assert "&#34;status&#34;: &#34;open&#34;" in html  # the payload, pretty-printed
    assert "Replay" in html


def test_the_detail_lists_other_events_about_the_same_object(login, admin, deliver):
    first = event_body("invoice.paid", plain_invoice("in_7"), created=1_000)
    second = event_body("invoice.payment_failed", plain_invoice("in_7", "open"), created=2_000)
    deliver(first), deliver(second)
    html = login(admin).get(f"/admin/webhooks/{stored(first['id']).id}").get_data(as_text=True)
    assert "Other events about in_7" in html
    assert second["id"] in html


def test_replay_processes_a_failed_event(login, admin, events):
    row = stored(events["failed"]["id"])
    browser = login(admin)
    response = browser.post(f"/admin/webhooks/{row.id}/replay", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Replayed: the event is processed." in html
    row = stored(events["failed"]["id"])
    assert (row.status, row.attempts, row.last_error) == (
        EventStatus.PROCESSED,
        MAX_RETRIES + 2,
        None,
    )


def test_a_replay_that_fails_again_says_why(login, admin, events, monkeypatch):
    row = stored(events["failed"]["id"])
    monkeypatch.setitem(handlers.HANDLERS, row.type, _boom)
    html = (
        login(admin)
        .post(f"/admin/webhooks/{row.id}/replay", follow_redirects=True)
        .get_data(as_text=True)
    )
    assert "Replay failed: ValueError: unexpected &lt;b&gt;markup&lt;/b&gt;" in html
    assert stored(row.stripe_id).status == EventStatus.FAILED


def test_replay_needs_the_csrf_token(login, admin, events):
    row = stored(events["failed"]["id"])
    browser = login(admin)
    response = browser.client.post(f"/admin/webhooks/{row.id}/replay")
    assert response.status_code == 400
    assert stored(row.stripe_id).attempts == MAX_RETRIES + 1


def test_a_missing_event_is_404(login, admin):
    browser = login(admin)
    assert browser.get("/admin/webhooks/999").status_code == 404
    assert browser.post("/admin/webhooks/999/replay").status_code == 404


@pytest.mark.parametrize("role", ["student", "tutor"])
def test_only_admins_see_or_replay_events(login, events, role, request):
    user = request.getfixturevalue(role)
    browser = login(user)
    row = stored(events["failed"]["id"])
    assert browser.get("/admin/webhooks").status_code == 403
    assert browser.get(f"/admin/webhooks/{row.id}").status_code == 403
    assert browser.post(f"/admin/webhooks/{row.id}/replay").status_code == 403
    assert "/admin/webhooks" not in browser.get("/account").get_data(as_text=True)
    assert stored(row.stripe_id).attempts == MAX_RETRIES + 1


def test_signed_out_visitors_are_sent_to_sign_in(client, events):
    response = client.get("/admin/webhooks")
    assert response.status_code == 302
    assert "/signin" in response.headers["Location"]


def test_the_list_pages_fifty_at_a_time(login, admin, deliver):
    for n in range(51):
        deliver(event_body("customer.created", {"id": f"cus_{n}"}))
    browser = login(admin)
    first = browser.get("/admin/webhooks").get_data(as_text=True)
    second = browser.get("/admin/webhooks?page=2").get_data(as_text=True)
    assert (len(_ids(first)), len(_ids(second))) == (50, 1)
    assert "Page 1 of 2" in first
    db.session.rollback()


def test_the_payload_hides_a_payment_intents_client_secret(login, admin, deliver):
    intent = {"id": "pi_1", "client_secret": "pi_1_secret_abc", "charges": {"data": []}}
    event = event_body("payment_intent.created", intent)
    deliver(event)
    html = login(admin).get(f"/admin/webhooks/{stored(event['id']).id}").get_data(as_text=True)
    assert "pi_1_secret_abc" not in html
    assert "&#34;client_secret&#34;: &#34;(hidden)&#34;" in html
    assert stored(event["id"]).payload["data"]["object"]["client_secret"] == "pi_1_secret_abc"
