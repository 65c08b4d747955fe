"""Role checks for views. Anonymous users get 401 (pages redirect to sign-in), others 403."""

from __future__ import annotations

from functools import wraps

from flask_login import current_user

from portal.errors import Forbidden, NotAuthenticated


def roles_required(*roles: str):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                raise NotAuthenticated("Sign in to continue.")
            if roles and current_user.role not in roles:
                raise Forbidden("Your account cannot do this.")
            return view(*args, **kwargs)

        # The API's document reads who may call an operation from here (empty: anyone
        # signed in).
        wrapped.api_roles = roles
        return wrapped

    return decorator


login_required = roles_required()
student_required = roles_required("student")
tutor_required = roles_required("tutor")
admin_required = roles_required("admin")
