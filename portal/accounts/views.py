from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_user, logout_user

from portal.accounts import services
from portal.accounts.decorators import login_required
from portal.accounts.forms import SignInForm, SignUpForm
from portal.db import unit_of_work
from portal.errors import ValidationError
from portal.extensions import limiter
from portal.forms import apply_field_errors
from portal.rendering import render_page
from portal.urls import local_path_or

bp = Blueprint("accounts", __name__)

HOME_BY_ROLE = {
    "student": "bookings.my_lessons",
    "tutor": "bookings.my_lessons",
    "admin": "admin.index",
}


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return render_page("accounts/landing.html")
    return redirect(url_for(HOME_BY_ROLE[current_user.role]))


@bp.route("/signup", methods=["GET", "POST"])
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
                )
        except ValidationError as exc:
            apply_field_errors(form, exc.fields, exc.message)
        else:
            login_user(user)
            flash(f"Welcome, {user.name}. Your account is ready.", "success")
            return redirect(url_for("accounts.home"))
    status = 422 if form.errors or form.form_errors else 200
    return render_page("accounts/signup.html", {"form": form}, http_status=status)


def _sign_in_limit() -> str:
    return current_app.config["SIGN_IN_RATE_LIMIT"]


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit(_sign_in_limit, methods=["POST"])
def signin():
    form = SignInForm()
    next_url = local_path_or(request.args.get("next"), url_for("accounts.home"))
    if current_user.is_authenticated:
        return redirect(next_url)
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            return redirect(next_url)
        form.form_errors.append("That email and password do not match an account.")
    status = 422 if form.errors or form.form_errors else 200
    return render_page("accounts/signin.html", {"form": form}, http_status=status)


@bp.post("/signout")
def signout():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("accounts.signin"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    token = None
    if request.method == "POST":
        with unit_of_work():
            token = services.issue_token(current_user)
    return render_page("accounts/account.html", {"token": token})
