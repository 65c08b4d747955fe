from flask import jsonify
from flask_login import current_user

from portal.accounts.decorators import login_required
from portal.accounts.services import list_tutors
from portal.api import api_blueprint

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
