"""The profile (name, a tutor's rate, time zone), sign-up's rate and zone, e-mail choices."""

import pytest
import sqlalchemy as sa

from portal.accounts import notifications
from portal.accounts.models import User
from portal.accounts.services import create_user
from portal.errors import ValidationError
from portal.extensions import db
from tests import factories
from tests.conftest import Session

SIGN_UP = {"name": "Tia", "email": "tia@example.com", "password": "long-enough-pw"}


def test_a_tutor_must_give_an_hourly_rate_at_sign_up(anon):
    response = anon.post("/signup", {**SIGN_UP, "role": "tutor", "hourly_rate": ""})
    assert response.status_code == 422
    assert "Tutors set an hourly rate" in response.get_data(as_text=True)
    assert db.session.query(User).count() == 0


def test_a_student_gives_no_rate_and_a_typed_one_is_ignored(anon):
    response = anon.post("/signup", {**SIGN_UP, "role": "student", "hourly_rate": "30.00"})
    assert response.status_code == 302
    assert db.session.query(User).one().hourly_rate is None


def test_sign_up_keeps_the_chosen_time_zone(anon):
    form = {**SIGN_UP, "role": "tutor", "hourly_rate": "40", "time_zone": "Europe/Berlin"}
    assert anon.post("/signup", form).status_code == 302
    user = db.session.query(User).one()
    assert (user.time_zone, user.hourly_rate) == ("Europe/Berlin", 4000)


def test_sign_up_refuses_an_unknown_time_zone(anon):
    form = {**SIGN_UP, "role": "student", "time_zone": "Mars/Olympus_Mons"}
    response = anon.post("/signup", form)
    assert response.status_code == 422 and "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.query(User).count() == 0


def test_the_service_refuses_a_tutor_without_a_rate_and_a_bad_zone():
    with pytest.raises(ValidationError) as missing:
        create_user("t@example.com", "long-enough-pw", "tutor")
    assert "hourly_rate" in missing.value.fields
    with pytest.raises(ValidationError) as zone:
        create_user("s@example.com", "long-enough-pw", "student", time_zone="Nowhere/Town")
    assert "time_zone" in zone.value.fields


def test_the_schema_refuses_a_tutor_without_a_rate(tutor):
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.update(User).where(User.id == tutor.id).values(hourly_rate=None))
        db.session.flush()
    db.session.rollback()


def test_a_tutor_changes_name_rate_and_time_zone(login, tutor):
    browser = login(tutor)
    page = browser.get("/account/profile").get_data(as_text=True)
    assert 'value="45.00"' in page and "Hourly rate" in page
    response = browser.post(
        "/account/profile",
        {"name": "Tia Tutor", "hourly_rate": "52.50", "time_zone": "America/New_York"},
    )
    assert response.status_code == 302
    db.session.refresh(tutor)
    assert (tutor.name, tutor.hourly_rate, tutor.time_zone) == (
        "Tia Tutor",
        5250,
        "America/New_York",
    )
    assert "America/New_York" in browser.get("/account").get_data(as_text=True)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"hourly_rate": ""}, "Tutors set an hourly rate"),
        ({"hourly_rate": "-3"}, "Enter an amount like"),
        ({"hourly_rate": "99999999"}, "at most"),
        ({"name": ""}, "This field is required"),
        ({"time_zone": "Europe/Atlantis"}, "Not a valid choice"),
    ],
)
def test_bad_profile_input_changes_nothing(login, tutor, form, message):
    data = {"name": "New name", "hourly_rate": "50", "time_zone": "Europe/Berlin", **form}
    response = login(tutor).post("/account/profile", data)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    db.session.refresh(tutor)
    assert (tutor.name, tutor.hourly_rate, tutor.time_zone) == (tutor.name, 4500, "UTC")
    assert tutor.name != "New name"


def test_a_student_has_no_rate_to_edit(login, student):
    browser = login(student)
    assert "Hourly rate" not in browser.get("/account/profile").get_data(as_text=True)
    browser.post("/account/profile", {"name": "Sam", "hourly_rate": "30", "time_zone": "UTC"})
    db.session.refresh(student)
    assert (student.name, student.hourly_rate) == ("Sam", None)


def test_the_profile_form_needs_its_csrf_token(login, student):
    browser = login(student)
    response = browser.client.post("/account/profile", data={"name": "X", "time_zone": "UTC"})
    assert response.status_code == 400
    db.session.refresh(student)
    assert student.name != "X"


def test_mail_preferences_default_and_save(login, tutor):
    assert notifications.wants_mail(tutor, "sign_in_alerts")
    assert not notifications.wants_mail(tutor, "news")  # marketing: opt-in only
    browser = login(tutor)
    page = browser.get("/account/notifications").get_data(as_text=True)
    assert "E-mails we always send" in page and "Payouts sent or failed" in page
    assert "Payment receipts" not in page  # a tutor pays nothing
    # Ticking "news" and leaving the alerts unticked.
    assert browser.post("/account/notifications", {"news": "y"}).status_code == 302
    db.session.refresh(tutor)
    assert tutor.mail_preferences == {"sign_in_alerts": False, "news": True}
    assert notifications.wants_mail(tutor, "news")
    assert not notifications.wants_mail(tutor, "sign_in_alerts")


def test_a_student_is_told_receipts_are_always_sent(login, student):
    page = login(student).get("/account/notifications").get_data(as_text=True)
    assert "Payment receipts and invoices" in page and "The law requires" in page


def test_a_sign_in_from_a_new_browser_is_mailed_once(app, inbox, student):
    browser = Session(app.test_client())
    form = {"email": student.email, "password": factories.PASSWORD}
    assert browser.post("/signin", form).status_code == 302
    [alert] = inbox
    assert alert["Subject"] == "New sign-in to your M4SH account"
    assert "UTC" in alert.get_body().get_content()
    browser.user, browser._csrf = student, None  # sign-in made a new CSRF token
    assert browser.post("/signout").status_code == 302
    browser.user, browser._csrf = None, None
    # The same browser again: no alert.
    assert browser.post("/signin", form).status_code == 302
    assert len(inbox) == 1


def test_no_sign_in_alert_when_turned_off(app, inbox, student):
    notifications.set_preferences(student, {"sign_in_alerts": False})
    db.session.commit()
    browser = Session(app.test_client())
    browser.post("/signin", {"email": student.email, "password": factories.PASSWORD})
    assert inbox == []


def test_a_student_cannot_set_a_tutors_kind_of_mail(student):
    with pytest.raises(ValueError):
        notifications.set_preferences(student, {"receipts": False})


def test_news_goes_only_to_users_who_turned_it_on(app, inbox, tmp_path):
    keen, quiet, gone = (factories.UserFactory() for _ in range(3))
    for user in (keen, gone):
        notifications.set_preferences(user, {"news": True})
    gone.active = False
    db.session.commit()
    body = tmp_path / "news.txt"
    body.write_text("Lessons can now be booked in your own time zone.\n")
    result = app.test_cli_runner().invoke(args=["users", "announce", "What's new", str(body)])
    assert result.exit_code == 0 and "1 user(s)" in result.output, result.output
    [message] = inbox
    assert message["To"] == keen.email and message["Subject"] == "What's new"
    text = message.get_body().get_content()
    assert "own time zone" in text and "/account/notifications" in text
    assert quiet.email not in {m["To"] for m in inbox}


def test_an_empty_announcement_is_refused(app, tmp_path):
    body = tmp_path / "empty.txt"
    body.write_text("  \n")
    result = app.test_cli_runner().invoke(args=["users", "announce", "Hello", str(body)])
    assert result.exit_code != 0 and "not empty" in result.output
