"""The accounts' scheduled job and their e-mails (sent by a worker, never in the request).

A password reset is queued for any address typed in; the task looks the address up, so
the page answers at once and the same for an address with no account.
"""

from __future__ import annotations

from datetime import datetime

from celery import shared_task

from portal import emails
from portal.accounts import notifications, password_reset
from portal.accounts.models import User
from portal.accounts.services import get_user_by_email
from portal.accounts.sessions import delete_expired_sessions as delete_expired
from portal.after_commit import enqueue_after_commit
from portal.dates import format_local, iso_utc
from portal.db import utcnow
from portal.extensions import db
from portal.rendering import portal_url

MAIL_RETRIES = 5


@shared_task(name="delete_expired_sessions")
def delete_expired_sessions() -> int:
    """Forget sessions unused for SESSION_LIFETIME_DAYS (daily); returns how many records."""
    count = delete_expired()
    db.session.commit()
    return count


@shared_task(bind=True, name="send_password_reset", max_retries=MAIL_RETRIES, ignore_result=True)
def send_password_reset(self, email: str) -> bool:
    return emails.send_with_retries(self, lambda: mail_reset_link(email), "password reset")


def mail_reset_link(email: str) -> bool:
    """Mail a reset link to `email` if an active account has it; False if none does."""
    user = get_user_by_email(email)
    if user is None or not user.active:
        return False
    emails.send(
        "password_reset",
        subject="Reset your M4SH password",
        to=[user.email],
        user=user,
        link=portal_url("password_reset.reset", token=password_reset.make_token(user)),
        minutes=password_reset.max_age_seconds() // 60,
    )
    return True


@shared_task(bind=True, name="send_sign_in_alert", max_retries=MAIL_RETRIES, ignore_result=True)
def send_sign_in_alert(self, user_id: int, browser: str, ip: str | None, at: str) -> bool:
    return emails.send_with_retries(
        self, lambda: mail_sign_in_alert(user_id, browser, ip, at), "alert"
    )


def mail_sign_in_alert(user_id: int, browser: str, ip: str | None, at: str) -> bool:
    """Tell the user about a sign-in from a new browser, if they want such alerts."""
    user = db.session.get(User, user_id)
    if user is None or not notifications.wants_mail(user, "sign_in_alerts"):
        return False
    emails.send(
        "sign_in_alert",
        subject="New sign-in to your M4SH account",
        to=[user.email],
        user=user,
        browser=browser,
        ip=ip or "an unknown address",
        at=format_local(datetime.fromisoformat(at), tz=user.time_zone),
        account_url=portal_url("accounts.account"),
        forgot_url=portal_url("password_reset.forgot"),
        preferences_url=portal_url("profile.notifications"),
    )
    return True


@shared_task(bind=True, name="send_news", max_retries=MAIL_RETRIES, ignore_result=True)
def send_news(self, user_id: int, subject: str, body: str) -> bool:
    return emails.send_with_retries(self, lambda: mail_news(user_id, subject, body), "news")


def mail_news(user_id: int, subject: str, body: str) -> bool:
    """Send news to a user who still wants it (asked again at send time: a user may turn
    it off between the announcement and the send)."""
    user = db.session.get(User, user_id)
    if user is None or not user.active or not notifications.wants_mail(user, "news"):
        return False
    emails.send(
        "news",
        subject=subject,
        to=[user.email],
        user=user,
        body=body,
        preferences_url=portal_url("profile.notifications"),
    )
    return True


@shared_task(bind=True, name="send_password_changed", max_retries=MAIL_RETRIES, ignore_result=True)
def send_password_changed(self, user_id: int, at: str) -> bool:
    return emails.send_with_retries(self, lambda: mail_password_changed(user_id, at), "notice")


def mail_password_changed(user_id: int, at: str) -> bool:
    """Tell the user their password changed (always sent: it is how a user learns that
    somebody else took the account)."""
    user = db.session.get(User, user_id)
    if user is None:
        return False
    emails.send(
        "password_changed",
        subject="Your M4SH password was changed",
        to=[user.email],
        user=user,
        at=format_local(datetime.fromisoformat(at), tz=user.time_zone),
        forgot_url=portal_url("password_reset.forgot"),
    )
    return True


def notify_password_changed(user: User) -> None:
    """Queue the notice of a new password for once the change commits."""
    enqueue_after_commit(send_password_changed, user.id, iso_utc(utcnow()))
