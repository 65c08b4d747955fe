"""The account's own pages: profile (name, rate, time zone), password, e-mail preferences."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from portal.accounts import notifications, profile, services, sessions
from portal.accounts.decorators import login_required
from portal.accounts.forms import ChangePasswordForm, NotificationsForm, ProfileForm
from portal.accounts.tasks import notify_password_changed
from portal.accounts.views import sign_in_limit
from portal.db import utcnow
from portal.errors import ValidationError
from portal.extensions import db, limiter
from portal.forms import apply_field_errors
from portal.rendering import render_page

bp = Blueprint("profile", __name__)


@bp.route("/account/profile", methods=["GET", "POST"])
@login_required
def edit():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        try:
            changed = profile.update_profile(
                current_user,
                name=form.name.data,
                time_zone=form.time_zone.data,
                hourly_rate=form.hourly_rate.data,
            )
        except ValidationError as exc:
            db.session.rollback()
            apply_field_errors(form, exc.fields, exc.message)
        else:
            db.session.commit()
            flash("Your profile is saved." if changed else "Nothing to change.", "success")
            return redirect(url_for("profile.edit"))
    status = 422 if form.errors or form.form_errors else 200
    return render_page("accounts/profile.html", {"form": form, "now": utcnow()}, http_status=status)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@limiter.limit(sign_in_limit, methods=["POST"])
def password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                current_user, form.current_password.data, form.new_password.data
            )
        except ValidationError as exc:
            db.session.rollback()
            apply_field_errors(form, exc.fields, exc.message)
        else:
            # Whoever knew the old password is signed out everywhere else.
            count = sessions.end_all_other_sessions(current_user.id)
            notify_password_changed(current_user)
            db.session.commit()
            flash(f"Your password is changed; {count} other session(s) signed out.", "success")
            return redirect(url_for("accounts.account"))
    status = 422 if form.errors or form.form_errors else 200
    return render_page("accounts/password.html", {"form": form}, http_status=status)


@bp.route("/account/notifications", methods=["GET", "POST"], endpoint="notifications")
@login_required
def notifications_page():
    kinds = notifications.optional_for(current_user)
    form = NotificationsForm.for_user(
        kinds, lambda key: notifications.wants_mail(current_user, key)
    )
    if form.validate_on_submit():
        notifications.set_preferences(
            current_user, {kind.key: form[kind.key].data for kind in kinds}
        )
        db.session.commit()
        flash("Your e-mail preferences are saved.", "success")
        return redirect(url_for("profile.notifications"))
    return render_page(
        "accounts/notifications.html",
        {"form": form, "kinds": kinds, "required": notifications.required_for(current_user)},
        http_status=422 if form.errors else 200,
    )
