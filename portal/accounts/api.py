"""The accounts JSON API: who is calling, the tutors on offer, and the caller's tokens."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user

from portal.accounts import tokens
from portal.accounts.decorators import login_required
from portal.accounts.schemas import MeAnswer, TokenAnswer, TutorAnswer
from portal.accounts.services import list_tutors
from portal.api import api_blueprint, paginate
from portal.contract.schemas import Page, PageQuery
from portal.contract.spec import operation
from portal.extensions import db

bp = api_blueprint("accounts_api", __name__, "")


@bp.get("/me/")
@login_required
@operation({200: MeAnswer})
def me():
    """The caller"""
    return MeAnswer.model_validate(current_user)


@bp.get("/tutors/")
@login_required
@operation({200: Page[TutorAnswer]})
def tutors():
    """The tutors on offer, with their hourly rates (one page holds them all)"""
    currency = current_app.config["PLATFORM_CURRENCY"]
    results = [
        TutorAnswer(id=t.id, name=t.name, hourly_rate=t.hourly_rate, currency=currency)
        for t in list_tutors()
    ]
    return {"count": len(results), "next": None, "previous": None, "results": results}


@bp.get("/me/tokens/")
@login_required
@operation({200: Page[TokenAnswer]})
def my_tokens(query: PageQuery):
    """The caller's API tokens that still work, newest first (never a token itself)"""
    return paginate(tokens.live_tokens(current_user.id), TokenAnswer.model_validate, page=query)


@bp.delete("/me/tokens/<int:token_id>/")
@login_required
@operation({204: None})
def revoke_my_token(token_id: int):
    """Revoke one of the caller's tokens at once (somebody else's is 404)"""
    tokens.revoke_token(current_user.id, token_id)
    db.session.commit()
    return "", 204
