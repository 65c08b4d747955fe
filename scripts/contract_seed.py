"""The contract check's users: one of each role for Schemathesis, and a student and a tutor
for the generated client's journey, each with an API token, made through the portal's own
services (`flask users create` and `flask users token` in one process). Then, through the
live API, Schemathesis's student saves a card and pays a lesson with its tutor, so the
lists it reads hold real objects whose ids the fuzzer goes on to use.

Run by scripts/contract-check.sh with the check's environment (DATABASE_URL,
STRIPE_API_BASE, …), once the portal answers at BASE:

    .venv/bin/python scripts/contract_seed.py BASE OUT.json

writes `{"student": {"id", "email", "token"}, "tutor": …, "admin": …, "journey_student":
…, "journey_tutor": …}` to OUT.json (the tokens are secrets: the file stays in the check's
temporary folder).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from localstripe_card import visa_payment_method

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from portal import create_app  # noqa: E402
from portal.accounts.services import create_user  # noqa: E402
from portal.accounts.tokens import issue_token  # noqa: E402
from portal.db import unit_of_work  # noqa: E402

PASSWORD = "contract check passphrase 7"  # noqa: S105 - a throwaway database's users
HOURLY_RATE = 4000

USERS = {
    "student": "student",
    "tutor": "tutor",
    "admin": "admin",
    "journey_student": "student",
    "journey_tutor": "tutor",
}


def seed() -> dict[str, dict]:
    made = {}
    with unit_of_work():
        for name, role in USERS.items():
            rate = HOURLY_RATE if role == "tutor" else None
            email = f"{name.replace('_', '-')}@contract.example.com"
            user = create_user(email, PASSWORD, role, name=name, hourly_rate=rate)
            made[name] = {"id": user.id, "email": email, "token": issue_token(user, "contract")}
    return made


def call(base: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    response = requests.request(
        method,
        f"{base}{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if response.status_code >= 300:
        raise SystemExit(f"seed: {method} {path} answered {response.status_code}: {response.text}")
    return response.json()


def pay_a_lesson(base: str, users: dict) -> str:
    """The student saves a card and pays for a lesson with the tutor two days ahead."""
    token = users["student"]["token"]
    card = {"provider_method_id": visa_payment_method()}
    method = call(base, token, "POST", "/api/v1/payments/methods/", card)
    starts = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    lesson = {"tutor_id": users["tutor"]["id"], "starts_at": starts.isoformat()}
    booking = call(base, token, "POST", "/api/v1/bookings/", lesson | {"duration_minutes": 60})
    step = call(base, token, "POST", "/api/v1/payments/intent/", {"booking_id": booking["id"]})
    paid = call(
        base,
        token,
        "POST",
        f"/api/v1/payments/{step['id']}/confirm/",
        {"payment_method_id": method["id"]},
    )
    if paid["status"] != "succeeded":
        raise SystemExit(f"seed: the lesson's payment is {paid['status']}, not succeeded")
    return paid["id"]


def main(base: str, out: str) -> None:
    with create_app().app_context():
        users = seed()
    Path(out).write_text(json.dumps(users, indent=2))
    print("seeded: " + ", ".join(f"{name} (id {user['id']})" for name, user in users.items()))
    print(f"seeded: the student's saved card and paid lesson (payment {pay_a_lesson(base, users)})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
