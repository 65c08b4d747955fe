"""Fixtures: one app per session, a clean database per test, clients and a login helper.

The suite runs on SQLite by default and on PostgreSQL when `TEST_DATABASE_URL` is set.
Each test starts from empty tables: SQLite recreates them, PostgreSQL truncates them
(TRUNCATE, unlike DELETE, does not trip the ledger's append-only triggers).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from celery._state import _set_task_join_will_block
from flask import g

from portal import create_app
from portal.accounts.tokens import issue_token
from portal.extensions import db as _db
from portal.extensions import mail
from portal.payments import confirmation, intents
from tests import factories
from tests.support.browser import LiveServer, axe_violations, launch_chromium
from tests.support.localstripe import VISA, LocalStripe
from tests.support.servers import free_port
from tests.support.tiers import database_url, unavailable


def _test_config(tmp_path_factory) -> dict:
    url = database_url()
    if url is None:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1)
        if url.startswith("postgresql://")
        else url,
        "CELERY_BROKER_URL": None,
        "CELERY_RESULT_BACKEND": None,
        # Limits stay on (a disabled limiter never registers its hooks); the sign-in and API
        # limits are high here and lowered by the tests that check them.
        "RATELIMIT_ENABLED": True,
        "SIGN_IN_RATE_LIMIT": "10000 per minute",
        "SIGN_UP_RATE_LIMIT": "10000 per minute",
        "API_RATE_LIMIT": "100000 per minute",
        "MAIL_SUPPRESS_SEND": True,
        "SERVER_NAME": None,
    }


@pytest.fixture(scope="session")
def app(tmp_path_factory, stripe_api_base):
    app = create_app({**_test_config(tmp_path_factory), **_stripe_config(stripe_api_base)})
    # Each test keeps one app context open across its requests, so `g` would carry the
    # signed-in user and CSRF token from one request to the next; production gets a fresh
    # `g` per request. Start every request with an empty one, before any other hook.
    app.before_request_funcs.setdefault(None, []).insert(0, _fresh_request_globals)
    with app.app_context():
        _db.drop_all()
        _db.create_all()
    yield app
    with app.app_context():
        _db.engine.dispose()


def _fresh_request_globals() -> None:
    for name in list(g):
        g.pop(name)


def _stripe_config(base: str) -> dict:
    return {
        "STRIPE_API_BASE": base,
        "STRIPE_JS_URL": f"{base}/js.stripe.com/v3/",
        "STRIPE_SECRET_KEY": "sk_test_localstripe",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_localstripe",
        "STRIPE_MAX_NETWORK_RETRIES": 0,
        "STRIPE_TIMEOUT_SECONDS": 10,
    }


@pytest.fixture(scope="session")
def stripe_api_base() -> str:
    """Where the test app's Stripe client points; `localstripe` starts a server there."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def localstripe_server(stripe_api_base):
    server = LocalStripe(stripe_api_base)
    if not server.start():
        server.stop()
        unavailable(f"Stripe tier: localstripe did not start (see {server.log_path})")
    yield server
    server.stop()


@pytest.fixture
def localstripe(localstripe_server):
    """A localstripe with no objects, which the app's Stripe calls reach."""
    localstripe_server.flush()
    return localstripe_server


@pytest.fixture(autouse=True)
def db(app):
    # Celery's eager mode keeps "inside a task" in one process-wide flag that it saves and
    # restores around each task; eager tasks run from several threads at once (the race
    # tests) can leave it set, and every later `.get()` would then refuse to run.
    _set_task_join_will_block(False)
    ctx = app.app_context()
    ctx.push()
    yield _db
    _db.session.rollback()
    _db.session.remove()
    _reset_tables()
    ctx.pop()


def _reset_tables() -> None:
    engine = _db.engine
    if engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in _db.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        _db.drop_all()
        _db.create_all()


@pytest.fixture
def is_postgres(app) -> bool:
    return _db.engine.dialect.name == "postgresql"


@pytest.fixture
def postgres(is_postgres):
    if not is_postgres:
        unavailable("PostgreSQL tier: set TEST_DATABASE_URL to run it")


@pytest.fixture
def client(app):
    return app.test_client()


CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


class Session:
    """A signed-in browser: pages and session-authenticated API calls, CSRF included."""

    def __init__(self, client, user=None):
        self.client = client
        self.user = user
        self._csrf = None

    @property
    def csrf(self) -> str:
        if self._csrf is None:
            page = self.client.get("/account" if self.user else "/signin").get_data(as_text=True)
            self._csrf = CSRF_RE.search(page).group(1)
        return self._csrf

    def get(self, url, **kwargs):
        return self.client.get(url, **kwargs)

    def post(self, url, data=None, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf)
        return self.client.post(url, data=data, **kwargs)

    def api(self, method, url, json=None, **kwargs):
        headers = kwargs.pop("headers", {})
        headers.setdefault("X-CSRFToken", self.csrf)
        return self.client.open(url, method=method, json=json, headers=headers, **kwargs)


@pytest.fixture
def login(app):
    """`login(user)` → a Session signed in as `user` through the real sign-in form."""

    def _login(user, password=factories.PASSWORD):
        client = app.test_client()
        browser = Session(client)
        response = browser.post("/signin", {"email": user.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        browser.user = user
        browser._csrf = None
        return browser

    return _login


@pytest.fixture
def anon(app):
    return Session(app.test_client())


@pytest.fixture
def bearer():
    """`bearer(user)` → headers with a fresh API token for `user`."""

    def _headers(user):
        token = issue_token(user)
        _db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    return _headers


@pytest.fixture
def student():
    return factories.UserFactory(role="student")


@pytest.fixture
def tutor():
    return factories.UserFactory(role="tutor", hourly_rate=4500)


@pytest.fixture
def admin():
    return factories.UserFactory(role="admin")


@pytest.fixture
def count_queries(app):
    """Context manager counting the SQL statements run inside it."""

    @contextmanager
    def _count():
        statements = []

        def before(conn, cursor, statement, *args):
            statements.append(statement)

        sa.event.listen(_db.engine, "before_cursor_execute", before)
        try:
            yield statements
        finally:
            sa.event.remove(_db.engine, "before_cursor_execute", before)

    return _count


# Screenshots of the browser tests, kept by CI as artifacts.
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="session")
def live_server(app):
    """The test app served over HTTP on a free port (session-wide)."""
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("browser tier: playwright is not installed")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    """A fresh browser context; `page.goto(path)` is relative to the live server."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def sign_in():
    """`sign_in(page, user)` signs in through the real form."""

    def _sign_in(page, user, password=factories.PASSWORD):
        page.goto("/signin")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/signin" not in url)

    return _sign_in


def screenshot(page, name: str) -> None:
    """Keep a screenshot of what the user saw, under tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def look(page, name: str) -> None:
    """Screenshots of the page as it is now on a laptop and on a phone
    (`name-1280.png`, `name-390.png`), each checked by axe-core: no serious or critical
    violation. The page is left at laptop width."""
    for size in (LAPTOP, PHONE):
        page.set_viewport_size(size)
        screenshot(page, f"{name}-{size['width']}")
        violations = axe_violations(page)
        assert violations == [], (name, size["width"], violations)
    page.set_viewport_size(LAPTOP)


class _Inbox:
    """An aiosmtpd handler that keeps every message it is sent."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server (aiosmtpd) on a free local port for the whole session."""
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def inbox(app, smtp_server):
    """Mail from the app goes to the SMTP server; the list of messages it received."""
    smtp_server.handler.messages.clear()
    previous = app.extensions["mail"]
    app.extensions["mail"] = mail.init_mail(
        {
            **app.config,
            "MAIL_SERVER": smtp_server.hostname,
            "MAIL_PORT": smtp_server.port,
            "MAIL_SUPPRESS_SEND": False,
        },
        testing=True,
    )
    yield smtp_server.handler.messages
    app.extensions["mail"] = previous


@pytest.fixture
def pay(localstripe):
    """`pay(student, lesson, number=VISA)` pays with a new card, as the payment page does."""

    def _pay(student, lesson, number=VISA):
        step = intents.create_payment_intent(student, lesson.id)
        step = confirmation.confirm_payment(
            student, step.payment.uuid, provider_method_id=localstripe.token(number)
        )
        _db.session.commit()
        return step.payment

    return _pay
