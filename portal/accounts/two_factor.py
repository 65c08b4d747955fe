"""A second factor for signing in: TOTP codes (RFC 6238, `pyotp`) and recovery codes.

Admins move money, so in production (`PORTAL_ENV=production`) an admin signs in with a
code from an authenticator app after the password; an admin not yet enrolled is sent to
enrolment before any other page. Elsewhere enrolment is offered, not forced.

Enrolment makes a secret (stored encrypted with FIELD_ENCRYPTION_KEYS), shows it as a QR
code, and is complete once a code from the app is entered; then ten recovery codes are
shown once (only their SHA-256 is kept: they are random, so a fast hash is enough). A
TOTP code is accepted once (the step it was used for is kept), a recovery code once.
Enrolment and every use of a recovery code are in the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp
import segno
import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import RecoveryCode, Role, TwoFactorSecret, User
from portal.audit.services import record
from portal.db import utcnow
from portal.errors import Conflict, ValidationError
from portal.extensions import db

ISSUER = "M4SH Portal"
RECOVERY_CODES = 10
# A code from the step before or after the current one is still taken (clock drift).
DRIFT_STEPS = 1
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def required_for(user: User) -> bool:
    """Whether `user` must have a second factor to use the portal."""
    return user.role == Role.ADMIN and current_app.config["ENV_NAME"] == "production"


def enrolled_secret(user_id: int) -> TwoFactorSecret | None:
    return db.session.scalar(
        sa.select(TwoFactorSecret).where(
            TwoFactorSecret.user_id == user_id, TwoFactorSecret.confirmed_at.is_not(None)
        )
    )


def is_enrolled(user_id: int) -> bool:
    return enrolled_secret(user_id) is not None


def pending_secret(user_id: int) -> TwoFactorSecret | None:
    return db.session.scalar(
        sa.select(TwoFactorSecret).where(
            TwoFactorSecret.user_id == user_id, TwoFactorSecret.confirmed_at.is_(None)
        )
    )


def start_enrolment(user: User) -> TwoFactorSecret:
    """A new secret for `user` to scan; it counts once confirmed. Flushes."""
    if user.role != Role.ADMIN:
        raise Conflict("Two-factor sign-in is for admin accounts.")
    if is_enrolled(user.id):
        raise Conflict("Two-factor sign-in is already set up.")
    row = pending_secret(user.id)
    if row is None:
        row = TwoFactorSecret(user_id=user.id, secret={"totp": pyotp.random_base32()})
        db.session.add(row)
    else:
        row.secret = {"totp": pyotp.random_base32()}
    db.session.flush()
    return row


def provisioning_uri(user: User, row: TwoFactorSecret) -> str:
    return pyotp.TOTP(row.secret["totp"]).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an inline SVG element, made here (no request leaves)."""
    return segno.make(uri, error="m").svg_inline(scale=5, border=2, dark="#111827")


def confirm_enrolment(user: User, code: str) -> list[str]:
    """Complete enrolment with a code from the app; returns the recovery codes. Flushes."""
    row = pending_secret(user.id)
    if row is None:
        raise Conflict("Start setting up two-factor sign-in first.")
    step = _matching_step(row, code)
    if step is None:
        raise _wrong_code()
    row.confirmed_at = utcnow()
    row.last_step = step
    codes = _new_recovery_codes(user.id)
    record("two_factor.enrolled", object_type="user", object_id=user.id, actor_id=user.id,
           after={"recovery_codes": len(codes)})  # fmt: skip
    db.session.flush()
    return codes


def verify(user: User, code: str) -> None:
    """Accept a TOTP code or an unused recovery code of `user`, once. Flushes.

    Raises `ValidationError` for anything else."""
    row = enrolled_secret(user.id)
    if row is None:
        raise Conflict("Two-factor sign-in is not set up.")
    code = "".join((code or "").split()).lower()
    if code.isdigit():
        step = _matching_step(row, code)
        if step is None or (row.last_step is not None and step <= row.last_step):
            raise _wrong_code()
        row.last_step = step
        db.session.flush()
        return
    used = db.session.scalar(
        sa.select(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash(code.replace("-", "")),
            RecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    if used is None:
        raise _wrong_code()
    used.used_at = utcnow()
    db.session.flush()
    left = _unused_codes(user.id)
    record("two_factor.recovery_code_used", object_type="user", object_id=user.id,
           actor_id=user.id, after={"recovery_codes_left": left})  # fmt: skip
    db.session.flush()


def recovery_codes_left(user_id: int) -> int:
    return _unused_codes(user_id)


def _unused_codes(user_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )


def _matching_step(row: TwoFactorSecret, code: str) -> int | None:
    code = "".join((code or "").split())
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(row.secret["totp"])
    now = int(time.time()) // totp.interval
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None


def _new_recovery_codes(user_id: int) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user_id, code_hash=_hash(raw)))
    return codes


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _wrong_code() -> ValidationError:
    message = "That code is not right, or was used already."
    return ValidationError(message, fields={"code": [message]})
