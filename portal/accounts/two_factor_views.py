"""Pages of the second factor: enrolment on the account page and the code at sign-in."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, session, url_for
from flask_login import current_user

from portal.accounts import two_factor
from portal.accounts.decorators import admin_required
from portal.accounts.forms import CodeForm
from portal.accounts.guards import note_second_factor
from portal.accounts.models import User
from portal.accounts.views import finish_sign_in, pending_sign_in, sign_in_limit
from portal.errors import ValidationError
from portal.extensions import db, limiter
from portal.forms import apply_field_errors
from portal.rendering import render_page

bp = Blueprint("two_factor", __name__)


def _pending_user_key() -> str:
    pending = session.get("_pending_sign_in") or {}
    return f"second-factor:{pending.get('user_id')}"


@bp.get("/account/two-factor")
@admin_required
def setup():
    return _setup_page(CodeForm(formdata=None))


def _setup_page(form: CodeForm, status: int = 200):
    enrolled = two_factor.is_enrolled(current_user.id)
    pending = None if enrolled else two_factor.pending_secret(current_user.id)
    qr = secret = None
    if pending is not None:
        uri = two_factor.provisioning_uri(current_user, pending)
        qr, secret = two_factor.qr_svg(uri), pending.secret["totp"]
    return render_page(
        "accounts/two_factor.html",
        {
            "form": form,
            "enrolled": enrolled,
            "qr_svg": qr,
            "secret": secret,
            "required": two_factor.required_for(current_user),
            "codes_left": two_factor.recovery_codes_left(current_user.id),
        },
        http_status=status,
    )


@bp.post("/account/two-factor/start")
@admin_required
def start():
    two_factor.start_enrolment(current_user)
    db.session.commit()
    return redirect(url_for("two_factor.setup"))


@bp.post("/account/two-factor/confirm")
@admin_required
@limiter.limit(sign_in_limit)
def confirm():
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.confirm_enrolment(current_user, form.code.data)
        except ValidationError as exc:
            db.session.rollback()
            apply_field_errors(form, exc.fields, exc.message)
        else:
            note_second_factor()
            db.session.commit()
            return render_page("accounts/recovery_codes.html", {"codes": codes})
    return _setup_page(form, status=422)


@bp.route("/signin/verify", methods=["GET", "POST"])
@limiter.limit(sign_in_limit, methods=["POST"])
@limiter.limit(sign_in_limit, key_func=_pending_user_key, methods=["POST"])
def verify():
    pending = pending_sign_in()
    if pending is None:
        flash("Sign in again: the code was not entered in time.", "info")
        return redirect(url_for("accounts.signin"))
    user = db.session.get(User, pending["user_id"])
    form = CodeForm()
    if user is not None and user.active and form.validate_on_submit():
        try:
            two_factor.verify(user, form.code.data)
        except ValidationError as exc:
            db.session.rollback()
            apply_field_errors(form, exc.fields, exc.message)
        else:
            return finish_sign_in(user, pending["next"])
    status = 422 if form.errors or form.form_errors else 200
    return render_page("accounts/verify.html", {"form": form}, http_status=status)
