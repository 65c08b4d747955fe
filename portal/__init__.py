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
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_helpers(app)
    return app


def register_extensions(app: Flask) -> None:
    import portal.models  # noqa: F401 - all tables on the metadata
    from portal.accounts.guards import register_account_guards
    from portal.celery import celery_init_app
    from portal.db import render_migration_item
    from portal.extensions import csrf, db, limiter, login_manager, mail, migrate
    from portal.security import note_request_user, register_security

    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(ROOT / "migrations"),
        compare_type=True,
        render_item=render_migration_item,
    )
    csrf.init_app(app)
    limiter.init_app(app)
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

    register_security(app)
    register_account_guards(app)
    celery_init_app(app)


# Every feature's blueprints, page views and JSON API alike; one line per module.
BLUEPRINT_MODULES = (
    "portal.accounts.views",
    "portal.accounts.api",
    "portal.accounts.two_factor_views",
    "portal.bookings.views",
    "portal.bookings.api",
    "portal.admin.views",
    "portal.webhooks.api",
    "portal.webhooks.views",
    "portal.payments.views",
    "portal.payments.api",
    "portal.payments.admin",
    "portal.invoices.views",
    "portal.invoices.admin",
    "portal.invoices.api",
    "portal.payouts.views",
    "portal.payouts.admin_views",
    "portal.payouts.api",
    "portal.audit.views",
    "portal.wallets.views",
    "portal.wallets.api",
    "portal.ledger.views",
)


def register_blueprints(app: Flask) -> None:
    from importlib import import_module

    from portal.db import IdConverter

    app.url_map.converters["int"] = IdConverter
    for name in BLUEPRINT_MODULES:
        app.register_blueprint(import_module(name).bp)


def register_errorhandlers(app: Flask) -> None:
    from portal.errors import register_errorhandlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from portal.commands import register_commands as register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from portal.money import format_money

    app.add_template_filter(format_money, "money")

    @app.template_filter("dt")
    def format_datetime(value, fmt: str = "%a %d %b %Y, %H:%M UTC") -> str:
        return value.strftime(fmt) if value else ""

    @app.context_processor
    def inject_settings():
        from portal.navigation import nav_items

        return {
            "nav_items": nav_items,
            "currency": app.config["PLATFORM_CURRENCY"],
            "stripe_js_url": app.config["STRIPE_JS_URL"],
        }
