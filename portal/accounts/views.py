from __future__ import annotations

import time

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user

from portal.accounts import services, sessions, tokens, two_factor
from portal.accounts.bookkeeping import commit_bookkeeping
from portal.accounts.decorators import login_required
from portal.accounts.forms import SignInForm, SignUpForm, TokenForm
from portal.accounts.guards import note_second_factor
from portal.accounts.sign_in_alerts import note_new_account, note_sign_in, remember_browser
from portal.db import unit_of_work
from portal.errors import ValidationError
from portal.extensions import db, limiter
from portal.forms import apply_field_errors
from portal.rendering import render_page
from portal.urls import local_path_or

bp = Blueprint("accounts", __name__)

HOME_BY_ROLE = {
    "student": "bookings.my_lessons",
    "tutor": "bookings.my_lessons",
    "admin": "admin.index",
}
# A password accepted for an account with a second factor waits this long for the code.
PENDING_KEY = "_pending_sign_in"
PENDING_SECONDS = 300


def sign_in_limit() -> str:
    return current_app.config["SIGN_IN_RATE_LIMIT"]


def _sign_up_limit() -> str:
    return current_app.config["SIGN_UP_RATE_LIMIT"]


def _typed_email() -> str:
    # Counted per account as well as per address: many addresses cannot try one account
    # faster than one address could.
    return "sign-in:" + (request.form.get("email") or "").strip().lower()[:254]


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return render_page("accounts/landing.html")
    return redirect(url_for(HOME_BY_ROLE[current_user.role]))


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(_sign_up_limit, methods=["POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("accounts.home"))
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                user = services.create_user(
                    form.email.data,
                    form.password.data,
                    form.role.data,
                    name=form.name.data,
                    hourly_rate=form.hourly_rate.data,
                    time_zone=form.time_zone.data,
                )
        except ValidationError as exc:
            apply_field_errors(form, exc.fields, exc.message)
        else:
            sessions.start_session(user)
            db.session.commit()
            flash(f"Welcome, {user.name}. Your account is ready.", "success")
            # The browser that made the account is not a new one to it.
            return remember_browser(redirect(url_for("accounts.home")), note_new_account(user))
    status = 422 if form.errors or form.form_errors else 200
    return render_page("accounts/signup.html", {"form": form}, http_status=status)


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit(sign_in_limit, methods=["POST"])
@limiter.limit(sign_in_limit, key_func=_typed_email, methods=["POST"])
def signin():
    form = SignInForm()
    next_url = local_path_or(request.args.get("next"), url_for("accounts.home"))
    if current_user.is_authenticated:
        return redirect(next_url)
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None and two_factor.is_enrolled(user.id):
            session[PENDING_KEY] = {"user_id": user.id, "next": next_url, "at": int(time.time())}
            return redirect(url_for("two_factor.verify"))
        if user is not None:
            sessions.start_session(user)
            known = note_sign_in(user)
            commit_bookkeeping()
            return remember_browser(redirect(next_url), known)
        form.form_errors.append("That email and password do not match an account.")
    status = 422 if form.errors or form.form_errors else 200
    return render_page("accounts/signin.html", {"form": form}, http_status=status)


def pending_sign_in() -> dict | None:
    """The sign-in waiting for its second factor, if it has not timed out."""
    pending = session.get(PENDING_KEY)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return None
    return pending


def finish_sign_in(user, next_url: str):
    """Sign in after the second factor; the caller has flushed what the code changed."""
    session.pop(PENDING_KEY, None)
    sessions.start_session(user)
    note_second_factor()
    known = note_sign_in(user)
    commit_bookkeeping()
    return remember_browser(redirect(next_url), known)


@bp.post("/signout")
def signout():
    sessions.end_session()
    commit_bookkeeping()
    flash("You are signed out.", "info")
    return redirect(url_for("accounts.signin"))


def _account_page(*, token=None, token_form=None, status=200):
    return render_page(
        "accounts/account.html",
        {
            "token": token,
            "token_form": token_form or TokenForm(formdata=None),
            "tokens": db.session.scalars(tokens.live_tokens(current_user.id)).all(),
            "sessions": sessions.list_sessions(current_user.id),
            "current_session": sessions.current_session_id(),
            "describe_agent": sessions.describe_agent,
            "two_factor_enrolled": two_factor.is_enrolled(current_user.id),
            "recovery_codes_left": two_factor.recovery_codes_left(current_user.id),
        },
        http_status=status,
    )


@bp.get("/account")
@login_required
def account():
    return _account_page()


@bp.post("/account/tokens")
@login_required
def create_token():
    form = TokenForm()
    if not form.validate_on_submit():
        return _account_page(token_form=form, status=422)
    try:
        _, token = tokens.create_token(current_user, form.name.data)
    except ValidationError as exc:
        db.session.rollback()
        apply_field_errors(form, exc.fields, exc.message)
        return _account_page(token_form=form, status=422)
    db.session.commit()
    return _account_page(token=token)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    token = tokens.revoke_token(current_user.id, token_id)
    db.session.commit()
    flash(f"The token “{token.name}” no longer works.", "info")
    return redirect(url_for("accounts.account"))


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int):
    sessions.end_other_session(current_user.id, session_id)
    db.session.commit()
    flash("That session is signed out.", "info")
    return redirect(url_for("accounts.account"))


@bp.post("/account/sessions/end-others")
@login_required
def end_other_sessions():
    count = sessions.end_all_other_sessions(current_user.id)
    db.session.commit()
    flash(f"Signed out {count} other session(s).", "info")
    return redirect(url_for("accounts.account"))


@bp.post("/account/sessions/end-all")
@login_required
def end_all_sessions():
    sessions.end_all_other_sessions(current_user.id)
    sessions.end_session()
    db.session.commit()
    flash("You are signed out everywhere.", "info")
    return redirect(url_for("accounts.signin"))
