"""The API's rate limit: per token (or user, or address), with the RateLimit headers, a 429
in the error shape, and the Stripe webhook left alone."""

from __future__ import annotations

import pytest
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from portal.api_limits import API_LIMIT
from portal.config import Config
from portal.extensions import limiter
from tests import factories
from tests.support.workers import redis_url

ME = "/api/v1/me/"


@pytest.fixture
def three_a_minute(app, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "3 per minute")
    limiter.reset()
    yield
    limiter.reset()


def _calls(client, count, url=ME, **kwargs):
    return [client.get(url, **kwargs) for _ in range(count)]


def test_the_fourth_call_in_a_minute_is_a_429_with_the_headers(
    client, bearer, student, three_a_minute
):
    headers = bearer(student)
    answers = _calls(client, 4, headers=headers)
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Limit"] for a in answers] == ["3"] * 4
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    for answer in answers:
        assert 0 < int(answer.headers["RateLimit-Reset"]) <= 60
    refused = answers[-1]
    assert refused.json["error"]["code"] == "rate_limited"
    assert "3 per minute" in refused.json["error"]["message"]
    assert refused.headers["Retry-After"] == refused.headers["RateLimit-Reset"]
    assert "Retry-After" not in answers[0].headers


def test_two_tokens_have_their_own_budgets(client, bearer, student, tutor, three_a_minute):
    first, second, tutors = bearer(student), bearer(student), bearer(tutor)
    assert [a.status_code for a in _calls(client, 4, headers=first)][-1] == 429
    assert [a.status_code for a in _calls(client, 3, headers=second)] == [200] * 3
    assert [a.status_code for a in _calls(client, 3, headers=tutors)] == [200] * 3
    assert client.get(ME, headers=second).status_code == 429


def test_every_endpoint_spends_the_same_budget(client, bearer, tutor, three_a_minute):
    headers = bearer(tutor)
    for url in (ME, "/api/v1/wallet/", "/api/v1/payouts/"):
        assert client.get(url, headers=headers).status_code == 200
    refused = client.post("/api/v1/payouts/", json={"amount": 1}, headers=headers)
    assert refused.status_code == 429


def test_a_browser_session_is_limited_per_user(login, student, three_a_minute):
    one, other = login(student), login(student)
    assert [a.status_code for a in _calls(one, 2)] == [200, 200]
    assert [a.status_code for a in _calls(other, 2)] == [200, 429]
    someone_else = login(factories.UserFactory(role="student"))
    assert someone_else.get(ME).status_code == 200


def test_anonymous_calls_are_limited_per_address(app, three_a_minute):
    here, there = app.test_client(), app.test_client()
    near = {"REMOTE_ADDR": "198.51.100.7"}
    assert [a.status_code for a in _calls(here, 4, environ_base=near)] == [401] * 3 + [429]
    far = {"REMOTE_ADDR": "203.0.113.9"}
    assert there.get(ME, environ_base=far).status_code == 401


def test_the_stripe_webhook_and_the_pages_are_not_limited(client, login, student, three_a_minute):
    for _ in range(5):
        answer = client.post("/api/v1/webhooks/stripe/", data=b"{}")
        assert answer.status_code == 400
        assert "RateLimit-Limit" not in answer.headers
    browser = login(student)
    for _ in range(5):
        page = browser.get("/lessons")
        assert page.status_code == 200 and "RateLimit-Limit" not in page.headers
    assert browser.get(ME).headers["RateLimit-Remaining"] == "2"


def test_a_malformed_limit_stops_the_start(monkeypatch):
    monkeypatch.setenv("API_RATE_LIMIT", "lots")
    with pytest.raises(RuntimeError, match="API_RATE_LIMIT"):
        Config().validate()
    monkeypatch.setenv("API_RATE_LIMIT", "100 per minute; 2000 per hour")
    Config().validate()


def test_in_shared_storage_every_worker_counts_the_same_budget(
    app, client, bearer, student, monkeypatch
):
    """Redis, as in production: another process reading the storage sees the token's calls."""
    url = redis_url()
    monkeypatch.setitem(app.config, "RATELIMIT_STORAGE_URI", url)
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "5 per minute")
    limiter.init_app(app)
    try:
        headers = bearer(student)
        assert [a.status_code for a in _calls(client, 3, headers=headers)] == [200] * 3
        worker = FixedWindowRateLimiter(storage_from_string(url))
        (item,) = list(API_LIMIT)
        key = headers["Authorization"].removeprefix("Bearer ")
        with app.test_request_context(ME, headers=headers):
            caller = item.key_func()
        assert caller.startswith("token:") and key not in caller
        assert worker.get_window_stats(item.limit, caller, "api").remaining == 2
        assert worker.hit(item.limit, caller, "api") and worker.hit(item.limit, caller, "api")
        assert client.get(ME, headers=headers).status_code == 429
    finally:
        monkeypatch.setitem(app.config, "RATELIMIT_STORAGE_URI", "memory://")
        limiter.init_app(app)
