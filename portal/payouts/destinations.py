"""A tutor's payout destinations: bank details and a Stripe connected account.

Bank details are the account holder, the bank's name and country, and either an IBAN
(checked with `schwifty`: country, length, structure, check digits) or a US account
number with its ABA routing number (checked with `python-stdnum`). They are stored
encrypted (`portal.crypto`); only the last four characters of the account are kept in
the clear, and only those ever leave this module — in pages, the API, the audit log and
the logs alike.

How a change of destination is read:

- A change may give only some fields; the result must still be complete. A new IBAN
  replaces a stored account + routing number and the other way round.
- A new IBAN without a country takes the IBAN's country; with one, the two must agree.
- Account + routing numbers are US bank accounts: the country must be US.
- ``null`` for a bank field means "unchanged"; ``stripe_account_id`` ``null`` or ``""``
  removes the connected account.
"""

from __future__ import annotations

import re

import pycountry
import sqlalchemy as sa
from schwifty import IBAN
from schwifty import exceptions as iban_errors
from stdnum import exceptions as stdnum_errors
from stdnum.us import rtn

from portal.accounts.models import Role, User
from portal.db import is_postgres, utcnow
from portal.errors import NotFound, ValidationError
from portal.extensions import db
from portal.payouts import destination_changes as changes
from portal.payouts.models import PayoutDestination, PayoutMethod

BANK_FIELDS = (
    "bank_account_holder",
    "bank_name",
    "bank_country",
    "bank_iban",
    "bank_account_number",
    "bank_routing_number",
)
SETTINGS_FIELDS = (*BANK_FIELDS, "stripe_account_id")

# Input field -> key in the encrypted JSON.
_KEYS = {
    "bank_account_holder": "holder",
    "bank_name": "bank_name",
    "bank_country": "country",
    "bank_iban": "iban",
    "bank_account_number": "account_number",
    "bank_routing_number": "routing_number",
}
# A connected account's id as Stripe issues it: acct_ and 16 letters and digits (a little
# longer allowed, should Stripe lengthen them), never spaces, dots or a bare prefix.
STRIPE_ACCOUNT_RE = re.compile(r"^acct_[A-Za-z0-9]{16,32}$")
_IBAN_MESSAGES = {
    iban_errors.InvalidChecksumDigits: "The IBAN's check digits do not match: look for a typo.",
    iban_errors.InvalidLength: "The IBAN has the wrong length for its country.",
    iban_errors.InvalidCountryCode: "The IBAN does not start with a known country code.",
    iban_errors.InvalidStructure: "The IBAN's format is wrong for its country.",
}


# --- reading --------------------------------------------------------------------------


def get_destination(tutor_id: int) -> PayoutDestination | None:
    return db.session.scalar(
        sa.select(PayoutDestination).where(PayoutDestination.tutor_id == tutor_id)
    )


def bank_last4_for(tutor_id: int) -> str | None:
    """The last four characters of the tutor's bank account, or None: all that is shown."""
    return db.session.scalar(
        sa.select(PayoutDestination.bank_last4).where(PayoutDestination.tutor_id == tutor_id)
    )


def mask_bank(kind: str | None, last4: str | None) -> str:
    if last4 is None:
        return ""
    return f"{'IBAN' if kind == 'iban' else 'Account'} •••• {last4}"


def mask_stripe(account_id: str | None) -> str:
    return f"Stripe {account_id[:5]}…{account_id[-4:]}" if account_id else ""


def ready_methods(destination: PayoutDestination | None) -> set[str]:
    """The payout methods whose details the tutor has given."""
    ready = set()
    if destination is not None and destination.has_bank:
        ready.add(PayoutMethod.BANK_TRANSFER)
    if destination is not None and destination.stripe_account_id:
        ready.add(PayoutMethod.STRIPE)
    return ready


def require_details(destination: PayoutDestination | None, method: str) -> None:
    """Refuse (400) a payout method whose details are missing."""
    if method in ready_methods(destination):
        return
    message = (
        "Add your bank details before asking for a bank transfer."
        if method == PayoutMethod.BANK_TRANSFER
        else "Connect your Stripe account before asking for a Stripe payout."
    )
    raise ValidationError(message, fields={"payout_method": [message]}, code="missing_details")


def snapshot(destination: PayoutDestination, method: str) -> dict:
    """What a payout request keeps of its destination (see PayoutRequest)."""
    if method == PayoutMethod.BANK_TRANSFER:
        return {
            "destination": mask_bank(destination.bank_kind, destination.bank_last4),
            "bank_details": dict(destination.bank_details),
            "stripe_account_id": None,
        }
    return {
        "destination": mask_stripe(destination.stripe_account_id),
        "bank_details": None,
        "stripe_account_id": destination.stripe_account_id,
    }


# --- changing -------------------------------------------------------------------------


def update_bank_details(tutor_id: int, **fields: object) -> PayoutDestination:
    """Set or change the tutor's bank details and Stripe account; flush, never commit.

    Takes any of `SETTINGS_FIELDS` (see the module docstring for the rules). Every field
    is checked before anything is written; a bad one is a `ValidationError` naming it.
    Any change of any field is audited by fingerprint and mailed to the tutor
    (`destination_changes`).
    """
    unknown = sorted(set(fields) - set(SETTINGS_FIELDS))
    if unknown:
        raise ValidationError(
            f"Unknown field(s): {', '.join(unknown)}.",
            fields={name: ["Unknown field."] for name in unknown},
        )
    destination = _locked_destination(tutor_id)
    errors: dict[str, list[str]] = {}
    given = {name: fields[name] for name in BANK_FIELDS if fields.get(name) is not None}
    current = destination.bank_details if destination is not None else None
    details = _merged(current, given, errors) if given else None
    stripe_id = _stripe_account(fields.get("stripe_account_id"), errors)
    if errors:
        raise ValidationError(next(iter(errors.values()))[0], fields=errors)
    if destination is None:
        destination = PayoutDestination(tutor_id=tutor_id, created_at=utcnow())
        db.session.add(destination)
    before, before_values = masked_state(destination), changes.values_of(destination)
    if details is not None:
        _store_bank(destination, details)
    if "stripe_account_id" in fields:
        destination.stripe_account_id = stripe_id
    destination.updated_at = utcnow()
    db.session.flush()
    changes.record_change(
        tutor_id, before_values, changes.values_of(destination), before, masked_state(destination)
    )
    return destination


def masked_state(destination: PayoutDestination) -> dict:
    return {
        "bank": mask_bank(destination.bank_kind, destination.bank_last4) or None,
        "stripe_account": mask_stripe(destination.stripe_account_id) or None,
    }


def _locked_destination(tutor_id: int) -> PayoutDestination | None:
    tutor = db.session.get(User, tutor_id) if isinstance(tutor_id, int) else None
    if tutor is None or tutor.role != Role.TUTOR:
        raise NotFound("No such tutor.")
    query = sa.select(PayoutDestination).where(PayoutDestination.tutor_id == tutor_id)
    if is_postgres(db.session):
        query = query.with_for_update()
    return db.session.scalar(query)


def _store_bank(destination: PayoutDestination, details: dict) -> None:
    destination.bank_details = details
    if "iban" in details:
        destination.bank_kind, destination.bank_last4 = "iban", details["iban"][-4:]
    else:
        destination.bank_kind, destination.bank_last4 = "account", details["account_number"][-4:]


def _merged(current: dict | None, given: dict[str, object], errors: dict) -> dict | None:
    """The stored details with `given` applied, checked and complete; None on errors."""
    details = dict(current or {})
    if "bank_iban" in given and ("bank_account_number" in given or "bank_routing_number" in given):
        errors["bank_iban"] = ["Give either an IBAN or an account and routing number, not both."]
        return None
    if "bank_iban" in given:
        details.pop("account_number", None)
        details.pop("routing_number", None)
        if "bank_country" not in given:
            details.pop("country", None)  # the new IBAN says where it is
    elif "bank_account_number" in given or "bank_routing_number" in given:
        details.pop("iban", None)
    for name, value in given.items():
        cleaned = _CLEAN[name](value, name, errors)
        if cleaned is not None:
            details[_KEYS[name]] = cleaned
    if errors:
        return None
    _complete(details, errors)
    return None if errors else details


def _complete(details: dict, errors: dict) -> None:
    if "iban" in details:
        country = details["iban"][:2]
        details.setdefault("country", country)
        if details["country"] != country:
            errors["bank_country"] = [f"The IBAN is from {country}, not {details['country']}."]
    elif "account_number" in details or "routing_number" in details:
        if details.get("country", "US") != "US":
            errors["bank_country"] = [
                "Account and routing numbers are for US banks; use an IBAN elsewhere."
            ]
        details.setdefault("country", "US")
    required = ["holder", "bank_name", "country"]
    required += ["iban"] if "iban" in details else ["account_number", "routing_number"]
    names = {key: name for name, key in _KEYS.items()}
    for key in required:
        if not details.get(key):
            errors.setdefault(names[key], ["This field is required."])
    if "iban" not in details and not details.get("account_number"):
        errors.setdefault("bank_iban", ["Give an IBAN, or an account and routing number."])


def _text(value: object, name: str, errors: dict, *, max_length: int = 100) -> str | None:
    if not isinstance(value, str):
        errors[name] = ["Must be text."]
        return None
    value = " ".join(value.split())
    if len(value) < 2 or len(value) > max_length:
        errors[name] = [f"Use 2 to {max_length} characters."]
        return None
    if any(ord(char) < 32 for char in value):
        errors[name] = ["Use letters, digits and punctuation only."]
        return None
    return value


def _country(value: object, name: str, errors: dict) -> str | None:
    code = value.strip().upper() if isinstance(value, str) else ""
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        errors[name] = ["Use the two-letter country code, e.g. DE or US."]
        return None
    return code


def _iban(value: object, name: str, errors: dict) -> str | None:
    if not isinstance(value, str) or len(value) > 64:
        errors[name] = ["Enter an IBAN, e.g. DE89 3704 0044 0532 0130 00."]
        return None
    try:
        return IBAN(value).compact
    except iban_errors.SchwiftyException as exc:
        errors[name] = [_IBAN_MESSAGES.get(type(exc), "This is not a valid IBAN.")]
        return None


def _account_number(value: object, name: str, errors: dict) -> str | None:
    digits = re.sub(r"[\s-]", "", value) if isinstance(value, str) else ""
    if not (digits.isascii() and digits.isdigit()) or not 4 <= len(digits) <= 17:
        errors[name] = ["Use the account number's 4 to 17 digits."]
        return None
    return digits


def _routing_number(value: object, name: str, errors: dict) -> str | None:
    try:
        return rtn.validate(value if isinstance(value, str) else "")
    except stdnum_errors.ValidationError:
        errors[name] = ["Use the bank's 9-digit ABA routing number."]
        return None


_CLEAN = {
    "bank_account_holder": _text,
    "bank_name": _text,
    "bank_country": _country,
    "bank_iban": _iban,
    "bank_account_number": _account_number,
    "bank_routing_number": _routing_number,
}


def _stripe_account(value: object, errors: dict) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not STRIPE_ACCOUNT_RE.match(value.strip()):
        errors["stripe_account_id"] = [
            "A Stripe account id is acct_ followed by 16 letters and digits, "
            "e.g. acct_1Nv0FGQ9RKHgCVdK (Stripe dashboard → Settings → Account details)."
        ]
        return None
    return value.strip()
