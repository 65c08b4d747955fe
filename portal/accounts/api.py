from flask import jsonify
from flask_login import current_user

from portal.accounts import tokens
from portal.accounts.decorators import login_required
from portal.accounts.services import list_tutors
from portal.api import api_blueprint, paginate
from portal.extensions import db

bp = api_blueprint("accounts_api", __name__, "")


def user_json(user) -> dict:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role}


def tutor_json(user) -> dict:
    from flask import current_app

    return {
        "id": user.id,
        "name": user.name,
        "hourly_rate": user.hourly_rate,
        "currency": current_app.config["PLATFORM_CURRENCY"],
    }


@bp.get("/me/")
@login_required
def me():
    return jsonify(user_json(current_user))


@bp.get("/tutors/")
@login_required
def tutors():
    results = [tutor_json(t) for t in list_tutors()]
    return jsonify({"count": len(results), "next": None, "previous": None, "results": results})


@bp.get("/me/tokens/")
@login_required
def my_tokens():
    """The caller's tokens that still work, newest first; never a token itself."""
    return jsonify(paginate(tokens.live_tokens(current_user.id), tokens.token_json))


@bp.delete("/me/tokens/<int:token_id>/")
@login_required
def revoke_my_token(token_id: int):
    tokens.revoke_token(current_user.id, token_id)
    db.session.commit()
    return "", 204
