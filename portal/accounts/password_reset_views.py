"""Forgot password: ask for a link by e-mail, then choose a new password through it.

Asking is limited like signing in (per address and per e-mail typed) and answers the
same whether or not the e-mail has an account.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from portal.accounts import password_reset, sessions
from portal.accounts.forms import ForgotPasswordForm, ResetPasswordForm
from portal.accounts.tasks import notify_password_changed, send_password_reset
from portal.accounts.views import sign_in_limit
from portal.errors import ValidationError
from portal.extensions import db, limiter
from portal.forms import apply_field_errors
from portal.rendering import render_page

bp = Blueprint("password_reset", __name__)


def _typed_email() -> str:
    return "reset:" + (request.form.get("email") or "").strip().lower()[:254]


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(sign_in_limit, methods=["POST"])
@limiter.limit(sign_in_limit, key_func=_typed_email, methods=["POST"])
def forgot():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        send_password_reset.delay(form.email.data.strip().lower())
        return render_page("accounts/forgot_sent.html", {"email": form.email.data.strip()})
    status = 422 if form.errors else 200
    return render_page("accounts/forgot.html", {"form": form}, http_status=status)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(sign_in_limit, methods=["POST"])
def reset(token: str):
    try:
        user = password_reset.user_for_token(token)
    except password_reset.ResetLinkError as exc:
        return _refused(exc.message)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            user = password_reset.reset_password(token, form.password.data)
        except password_reset.ResetLinkError as exc:
            db.session.rollback()
            return _refused(exc.message)
        except ValidationError as exc:
            db.session.rollback()
            apply_field_errors(form, exc.fields, exc.message)
        else:
            if current_user.is_authenticated and current_user.id == user.id:
                sessions.end_session()
            # Whoever knew the old password is signed out everywhere.
            sessions.end_all_other_sessions(user.id)
            notify_password_changed(user)
            db.session.commit()
            flash("Your password is changed. Sign in with it now.", "success")
            return redirect(url_for("accounts.signin"))
    status = 422 if form.errors or form.form_errors else 200
    return render_page("accounts/reset.html", {"form": form, "user": user}, http_status=status)


def _refused(message: str):
    return render_page(
        "accounts/forgot.html",
        {"form": ForgotPasswordForm(formdata=None), "refused": message},
        http_status=410,
    )
