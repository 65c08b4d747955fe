from portal.accounts.models import ApiToken, User
from portal.bookings.models import Booking
from portal.extensions import db
from portal.invoices.models import Invoice


def test_users_create_and_token(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "users",
            "create",
            "Boss@Example.com",
            "--role",
            "admin",
            "--password",
            "long-enough-pw",
            "--name",
            "Boss",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.query(User).one()
    assert (user.email, user.role, user.name) == ("boss@example.com", "admin", "Boss")

    result = runner.invoke(args=["users", "token", "boss@example.com"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert token.startswith("m4sh_") and "\n" not in token
    assert db.session.query(ApiToken).count() == 1
    assert (
        client.get("/api/v1/me/", headers={"Authorization": f"Bearer {token}"}).json["role"]
        == "admin"
    )


def test_users_create_refuses_bad_input(app):
    runner = app.test_cli_runner()
    for args in (
        ["x@example.com", "--role", "owner", "--password", "long-enough-pw"],
        ["not-an-email", "--role", "student", "--password", "long-enough-pw"],
        ["x@example.com", "--role", "student", "--password", "short"],
        ["x@example.com", "--role", "tutor", "--password", "long-enough-pw", "--hourly-rate", "-1"],
    ):
        result = runner.invoke(args=["users", "create", *args])
        assert result.exit_code != 0, args
    assert db.session.query(User).count() == 0
    assert runner.invoke(args=["users", "token", "nobody@example.com"]).exit_code != 0


def test_tutor_gets_the_given_hourly_rate(app):
    result = app.test_cli_runner().invoke(
        args=[
            "users",
            "create",
            "t@example.com",
            "--role",
            "tutor",
            "--password",
            "long-enough-pw",
            "--hourly-rate",
            "5000",
        ]
    )
    assert result.exit_code == 0
    assert db.session.query(User).one().hourly_rate == 5000


def test_demo_is_idempotent(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    counts = (db.session.query(User).count(), db.session.query(Booking).count())
    assert counts[0] == 5 and counts[1] >= 3
    assert "student@m4sh.app" in first.output and "demo-password-1" in first.output
    invoices = db.session.query(Invoice).filter_by(kind="manual").count()
    assert invoices == 2
    assert runner.invoke(args=["demo"]).exit_code == 0
    assert (db.session.query(User).count(), db.session.query(Booking).count()) == counts
    assert db.session.query(Invoice).filter_by(kind="manual").count() == invoices


def test_tasks_run(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["tasks", "run", "ping"])
    assert result.exit_code == 0 and "pong" in result.output
    unknown = runner.invoke(args=["tasks", "run", "nope"])
    assert unknown.exit_code != 0 and "complete_ended_lessons" in unknown.output


def test_unexpected_errors_are_json_under_api_and_a_page_elsewhere(app, client):
    # A route that fails, added to a throwaway app so the shared one stays untouched.
    from portal import create_app

    other = create_app(
        {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "x"}
    )
    # A new Celery app makes itself current and default; give both back to the suite's.
    app.extensions["celery"].set_current()
    app.extensions["celery"].set_default()

    @other.get("/api/v1/_boom/")
    def boom_api():
        raise RuntimeError("boom")

    @other.get("/_boom")
    def boom_page():
        raise RuntimeError("boom")

    test_client = other.test_client()
    response = test_client.get("/api/v1/_boom/")
    assert response.status_code == 500
    assert response.json == {
        "error": {"code": "server_error", "message": "Something went wrong on our side."}
    }
    page = test_client.get("/_boom")
    assert page.status_code == 500 and "Something went wrong" in page.get_data(as_text=True)
    with other.app_context():  # the page stored a session: close the throwaway's connections
        from portal.extensions import db

        db.engine.dispose()
    assert client.get("/api/v1/nope/").json["error"]["code"] == "not_found"
