"""API tokens: named, expiring, listed and revoked; they open the API and nothing else."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from portal.accounts.models import ApiToken
from portal.accounts.tokens import create_token
from portal.audit.models import AuditLog
from portal.db import utcnow
from portal.extensions import db
from tests import factories


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_has_a_name_an_expiry_and_a_last_use(app, client, student):
    row, token = create_token(student, "reporting script")
    db.session.commit()
    assert row.expires_at - row.created_at == timedelta(days=app.config["API_TOKEN_DAYS"])
    assert app.config["API_TOKEN_DAYS"] == 90
    assert row.last_used_at is None
    assert client.get("/api/v1/me/", headers=_bearer(token)).status_code == 200
    db.session.refresh(row)
    assert row.last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(client, student, count_queries):
    row, token = create_token(student, "busy")
    db.session.commit()
    client.get("/api/v1/me/", headers=_bearer(token))
    with count_queries() as statements:
        for _ in range(5):
            assert client.get("/api/v1/me/", headers=_bearer(token)).status_code == 200
    assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE API_TOKENS")]
    row.last_used_at = utcnow() - timedelta(minutes=2)
    db.session.commit()
    with count_queries() as statements:
        client.get("/api/v1/me/", headers=_bearer(token))
    assert len([s for s in statements if s.lstrip().upper().startswith("UPDATE API_TOKENS")]) == 1


def test_an_expired_token_is_refused(client, student):
    row, token = create_token(student)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = client.get("/api/v1/me/", headers=_bearer(token))
    assert response.status_code == 401


def test_the_api_lists_the_callers_tokens_never_the_secret(client, student):
    first, first_token = create_token(student, "laptop")
    second, _ = create_token(student, "ci")
    create_token(factories.UserFactory(role="tutor"), "not mine")
    revoked, _ = create_token(student, "old")
    revoked.revoked_at = utcnow()
    db.session.commit()

    response = client.get("/api/v1/me/tokens/", headers=_bearer(first_token))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 2
    assert [t["name"] for t in body["results"]] == ["ci", "laptop"]
    assert set(body["results"][0]) == {"id", "name", "created_at", "last_used_at", "expires_at"}
    assert first_token not in response.get_data(as_text=True)
    assert first.token_hash not in response.get_data(as_text=True)


def test_delete_revokes_a_token_at_once(client, student):
    keep, keep_token = create_token(student, "keep")
    gone, gone_token = create_token(student, "gone")
    db.session.commit()
    assert client.get("/api/v1/me/", headers=_bearer(gone_token)).status_code == 200

    response = client.delete(f"/api/v1/me/tokens/{gone.id}/", headers=_bearer(keep_token))
    assert response.status_code == 204
    assert client.get("/api/v1/me/", headers=_bearer(gone_token)).status_code == 401
    assert client.get("/api/v1/me/", headers=_bearer(keep_token)).status_code == 200
    again = client.delete(f"/api/v1/me/tokens/{gone.id}/", headers=_bearer(keep_token))
    assert again.status_code == 404


def test_nobody_revokes_another_users_token(client, student):
    theirs, their_token = create_token(factories.UserFactory(role="tutor"), "theirs")
    _, mine = create_token(student, "mine")
    db.session.commit()
    for token_id in (theirs.id, 999_999):
        response = client.delete(f"/api/v1/me/tokens/{token_id}/", headers=_bearer(mine))
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"
    assert client.get("/api/v1/me/", headers=_bearer(their_token)).status_code == 200


def test_revoking_from_a_browser_needs_the_csrf_token(login, student):
    browser = login(student)
    row, _ = create_token(student)
    db.session.commit()
    refused = browser.client.delete(f"/api/v1/me/tokens/{row.id}/")
    assert refused.status_code == 400
    assert browser.api("DELETE", f"/api/v1/me/tokens/{row.id}/").status_code == 204


def test_the_account_page_creates_lists_and_revokes_tokens(login, student):
    browser = login(student)
    created = browser.post("/account/tokens", {"name": "reporting script"})
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    token = re.search(r"(m4sh_[\w-]+)", created.get_data(as_text=True)).group(1)
    row = db.session.scalar(sa.select(ApiToken))
    assert row.name == "reporting script"

    page = browser.get("/account").get_data(as_text=True)
    assert "reporting script" in page and token not in page
    assert browser.post(f"/account/tokens/{row.id}/revoke").status_code == 302
    assert browser.client.get("/api/v1/me/", headers=_bearer(token)).status_code == 401
    assert "<td>reporting script</td>" not in browser.get("/account").get_data(as_text=True)


def test_a_token_name_too_long_is_a_form_error(login, student):
    browser = login(student)
    response = browser.post("/account/tokens", {"name": "x" * 81})
    assert response.status_code == 422
    assert "at most 80" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_revoke_tokens_command(app, student):
    _, token = create_token(student, "a")
    create_token(student, "b")
    db.session.commit()
    result = CliRunner().invoke(app.cli, ["users", "revoke-tokens", student.email.upper()])
    assert result.exit_code == 0, result.output
    assert "Revoked 2" in result.output
    with app.test_client() as client:
        assert client.get("/api/v1/me/", headers=_bearer(token)).status_code == 401
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "api_tokens.revoked"))
    unknown = CliRunner().invoke(app.cli, ["users", "revoke-tokens", "nobody@example.com"])
    assert unknown.exit_code != 0


def test_token_command_prints_only_the_token(app, student):
    result = CliRunner().invoke(app.cli, ["users", "token", student.email])
    assert result.exit_code == 0
    assert re.fullmatch(r"m4sh_[\w-]{43}\n", result.output)


def _page_routes(app):
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(("/api/", "/static")):
            continue
        values = {name: 1 for name in rule.arguments}
        yield values, rule.endpoint


# Public pages, and the probes whose answer is the same for everybody (/metrics has its
# own token and is off without one).
PUBLIC_PAGES = {
    "accounts.home",
    "accounts.signin",
    "accounts.signup",
    "password_reset.forgot",
    "password_reset.reset",
    "health.healthz",
    "health.readyz",
    "metrics.metrics",
}


def test_a_bearer_token_opens_no_page(app, client, bearer):
    """Every page, asked with only a bearer token (of any role), is the sign-in redirect
    (or the public page a visitor gets), never the page itself."""
    from flask import url_for

    users = [factories.UserFactory(role=role) for role in ("student", "tutor", "admin")]
    headers = [bearer(user) for user in users]
    checked = 0
    for values, endpoint in _page_routes(app):
        with app.test_request_context():
            url = url_for(endpoint, **values)
        for header in headers:
            response = client.get(url, headers=header)
            checked += 1
            if endpoint in PUBLIC_PAGES:
                anonymous = client.get(url)
                assert response.status_code == anonymous.status_code, url
                continue
            assert response.status_code in (302, 401, 404), (url, response.status_code)
            if response.status_code == 302:
                assert "/signin" in response.headers["Location"], url
    assert checked > 30


def test_a_bearer_token_posts_no_form(app, client, bearer, student):
    response = client.post("/account/tokens", headers=bearer(student), data={"name": "x"})
    assert response.status_code in (302, 400)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 1


@pytest.mark.parametrize("path", ["/api/v1/me/", "/api/v1/tutors/", "/api/v1/me/tokens/"])
def test_api_answers_are_not_cached(client, bearer, student, path):
    assert client.get(path, headers=bearer(student)).headers["Cache-Control"] == "no-store"
    assert client.get(path).headers["Cache-Control"] == "no-store"  # errors too


def test_noting_a_token_use_is_not_an_admin_action_in_the_audit_log(client, admin):
    from portal.audit.models import AuditLog

    _, token = create_token(admin)
    db.session.commit()
    url = "/api/v1/admin/payouts/00000000-0000-4000-8000-000000000000/approve/"
    refused = client.post(url, headers=_bearer(token))
    assert refused.status_code == 404
    assert db.session.scalars(sa.select(AuditLog)).all() == []
