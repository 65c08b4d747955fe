"""M4SH Portal: payments and tutor earnings."""

from __future__ import annotations

from flask import Flask

from portal.config import INSTANCE, ROOT, Config


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(INSTANCE),
    )
    settings = Config(config)
    settings.validate()
    app.config.from_mapping(settings.as_dict())
    register_extensions(app)
    register_receivers(app)
    register_lesson_covers(app)
    register_blueprints(app)
    register_idempotency(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_helpers(app)
    return app


def register_extensions(app: Flask) -> None:
    import portal.models  # noqa: F401 - all tables on the metadata
    from portal.accounts.guards import register_account_guards
    from portal.after_commit import install_after_commit_listeners
    from portal.api_limits import register_api_limit_headers
    from portal.audit.hooks import register_audit
    from portal.celery import celery_init_app
    from portal.db import install_idle_ping, install_sqlite_settings, render_migration_item
    from portal.extensions import csrf, db, limiter, login_manager, mail, migrate
    from portal.input import register_input
    from portal.invoices.numbering import install_numbering_listeners
    from portal.ledger import guard
    from portal.payments.lookups import install_session_listeners as install_payment_listeners
    from portal.security import note_request_user, register_security
    from portal.subscriptions.leftovers import install_leftover_listeners
    from portal.system.error_reports import init_error_reports
    from portal.system.logs import logged, register_logging
    from portal.system.metrics import register_metrics
    from portal.system.task_runs import run_recorded

    # Bound values stay out of error messages and logs, whatever engine options are set.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}), "hide_parameters": True}  # fmt: skip
    install_sqlite_settings()
    db.init_app(app)
    if not app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_pre_ping"):
        with app.app_context():
            for engine in db.engines.values():
                install_idle_ping(engine, app.config["DATABASE_PING_AFTER_IDLE_SECONDS"])
    guard.install()
    migrate.init_app(
        app,
        db,
        directory=str(ROOT / "migrations"),
        compare_type=True,
        render_item=render_migration_item,
    )
    csrf.init_app(app)
    limiter.init_app(app)
    register_api_limit_headers(app, lambda: limiter.current_limit)
    mail.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.signin"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str):
        from portal.accounts.models import User

        user = db.session.get(User, int(user_id))
        if user is None or not user.active:
            return None
        note_request_user(user)
        return user

    init_error_reports(app)
    register_logging(app)
    register_metrics(app)
    register_input(app)
    register_security(app)
    register_account_guards(app)
    register_audit(app)
    install_after_commit_listeners()
    install_numbering_listeners()
    install_leftover_listeners()
    install_payment_listeners()
    # Each task runs under its request id and writes its log line; scheduled ones are
    # also recorded as task runs.
    celery_init_app(
        app, TASK_MODULES, around=lambda task, call: logged(task, lambda: run_recorded(task, call))
    )


def register_receivers(app: Flask) -> None:
    """Signal receivers, connected here and only here: the audit log of payment and wallet
    events.

    The money path itself (ledger, invoices) is called directly by the payment services.
    """
    from portal.audit.receivers import connect as connect_audit_receivers

    connect_audit_receivers()


def register_lesson_covers(app: Flask) -> None:
    """What pays for a lesson booked without a card: the subscriptions' quota.

    Bookings calls it through `portal.bookings.covers` and never imports subscriptions,
    which sit above bookings (they use bookings, wallets and the ledger).
    """
    from portal.bookings.covers import install_cover
    from portal.subscriptions.quota import SubscriptionCover

    install_cover(app, SubscriptionCover())


# Every feature's Celery tasks, so the worker, beat and `flask tasks run` know them.
TASK_MODULES = (
    "portal.accounts.tasks",
    "portal.bookings.tasks",
    "portal.books.tasks",
    "portal.idempotency.tasks",
    "portal.invoices.tasks",
    "portal.payments.refund_notices",
    "portal.payments.tasks",
    "portal.payouts.destination_changes",
    "portal.payouts.notifications",
    "portal.payouts.tasks",
    "portal.subscriptions.notifications",
    "portal.subscriptions.tasks",
    "portal.system.tasks",
    "portal.wallets.tasks",
    "portal.webhooks.tasks",
)


# Every feature's blueprints, one line per module, named alike in every feature:
# `<feature>/views.py` holds the pages of the feature's own users, `<feature>/admin.py` the
# admin's pages, `<feature>/api.py` the JSON API (`portal/admin/views.py`: the admin's
# overview and lesson list, which belong to no one feature).
BLUEPRINT_MODULES = (
    "portal.accounts.views",
    "portal.accounts.api",
    "portal.accounts.two_factor_views",
    "portal.accounts.profile_views",
    "portal.accounts.password_reset_views",
    "portal.bookings.views",
    "portal.bookings.api",
    "portal.admin.views",
    "portal.webhooks.api",
    "portal.webhooks.admin",
    "portal.payments.views",
    "portal.payments.api",
    "portal.payments.admin",
    "portal.invoices.views",
    "portal.invoices.admin",
    "portal.invoices.api",
    "portal.invoices.admin_api",
    "portal.invoices.admin_actions",
    "portal.payouts.views",
    "portal.payouts.admin",
    "portal.payouts.api",
    "portal.audit.admin",
    "portal.wallets.views",
    "portal.wallets.api",
    "portal.wallets.admin",
    "portal.wallets.admin_api",
    "portal.books.admin",
    "portal.subscriptions.views",
    "portal.subscriptions.admin",
    "portal.subscriptions.api",
    "portal.system.health",
    "portal.system.admin",
    "portal.system.metrics",
    "portal.contract.views",
)


def register_blueprints(app: Flask) -> None:
    from importlib import import_module

    from portal.db import IdConverter

    app.url_map.converters["int"] = IdConverter
    for name in BLUEPRINT_MODULES:
        app.register_blueprint(import_module(name).bp)


def register_idempotency(app: Flask) -> None:
    """`Idempotency-Key` on the API calls that create money objects (those declared `idempotent`),
    hooked after every other before-request check (sign-in, CSRF, input)."""
    from portal.idempotency.keys import register_idempotency as register

    register(app)


def register_errorhandlers(app: Flask) -> None:
    from portal.errors import register_errorhandlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from portal.commands import register_commands as register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from portal.dates import format_local, iso_utc
    from portal.money import format_money

    app.add_template_filter(format_money, "money")
    # Every time on a page: `{{ when | dt }}`, `{{ when | dt("date") }}`, in the viewer's
    # zone with the zone named; `iso_utc` for `<time datetime>` and machine-read text.
    app.add_template_filter(format_local, "dt")
    app.add_template_filter(iso_utc, "iso_utc")

    @app.context_processor
    def inject_settings():
        from portal.navigation import nav_items

        return {
            "nav_items": nav_items,
            "currency": app.config["PLATFORM_CURRENCY"],
            "stripe_js_url": app.config["STRIPE_JS_URL"],
        }
