"""A lesson lived through the Python client generated from the API's OpenAPI document.

Run by scripts/contract-check.sh in the contract tools' venv, with the client that
openapi-python-client generated (package `m4sh_client`) on PYTHONPATH:

    python scripts/contract_journey.py BASE USERS.json OPENAPI.json

A student saves a card and books a lesson with a tutor, pays it with the saved card; an
admin completes it and the release task (`flask tasks run release_pending_earnings`, with
EARNINGS_HOLD_DAYS=0) makes the tutor's share available; the tutor reads the wallet, sets
bank details and asks for a payout of it all, and reads the wallet again.

Each call goes through the generated function of its operation (found by its operationId)
with the generated request model, and its answer is read into the generated answer model.
A call the document does not describe yet is made over plain HTTP and said so. Exits 1 at
the first step that does not answer as expected.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import typing
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from localstripe_card import visa_payment_method
from m4sh_client import AuthenticatedClient

ROOT = Path(__file__).resolve().parents[1]
IBAN = "DE89370400440532013000"
_PATH_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>|\{(\w+)\}")


class JourneyFailed(Exception):
    pass


def snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


class Api:
    """The generated client's operations, by method and path as the document names them."""

    def __init__(self, base: str, document: dict) -> None:
        self.base = base
        self.operations = {
            (method.upper(), path): operation
            for path, item in document["paths"].items()
            for method, operation in item.items()
        }
        self.generated = self.plain = 0

    def client(self, token: str) -> AuthenticatedClient:
        return AuthenticatedClient(base_url=self.base, token=token, raise_on_unexpected_status=True)

    def call(self, client, method: str, path: str, expect: int, body: dict | None = None, **ids):
        operation = self.operations.get((method, path))
        if operation is None:
            return self._plain(client, method, path, expect, body, ids)
        module = importlib.import_module(
            f"m4sh_client.api.{snake(operation['tags'][0])}.{snake(operation['operationId'])}"
        )
        hints = typing.get_type_hints(module.sync_detailed)
        kwargs = {name: _typed(hints[name], value) for name, value in ids.items()}
        if body is not None:
            kwargs["body"] = _model(hints["body"]).from_dict(body)
        if "idempotency_key" in hints:
            kwargs["idempotency_key"] = str(uuid.uuid4())
        response = module.sync_detailed(client=client, **kwargs)
        self.generated += 1
        where = f"{module.__name__.removeprefix('m4sh_client.api.')}"
        answer = _expected(response.status_code, expect, response.content, method, path)
        parsed = response.parsed
        if expect != 204 and (parsed is None or type(parsed).__name__ == "ErrorBody"):
            raise JourneyFailed(f"{method} {path}: the client could not read the answer {answer}")
        shown = type(parsed).__name__ if parsed is not None else "no body"
        print(f"   {method} {path} -> {response.status_code} {shown} (generated: {where})")
        return parsed.to_dict() if parsed is not None else {}

    def _plain(self, client, method: str, path: str, expect: int, body, ids) -> dict:
        url = _PATH_PARAMETER.sub(lambda m: str(ids[m.group(1) or m.group(2)]), path)
        response = client.get_httpx_client().request(method, url, json=body)
        self.plain += 1
        answer = _expected(response.status_code, expect, response.content, method, path)
        print(f"   {method} {path} -> {response.status_code} (not in the document yet: plain HTTP)")
        return answer


def _expected(status: int, expect: int, content: bytes, method: str, path: str) -> dict:
    answer = json.loads(content) if content else {}
    if status != expect:
        raise JourneyFailed(f"{method} {path}: {status}, expected {expect}: {answer}")
    return answer


def _model(hint):
    """The generated model class in a hint such as `ConfirmRequest | Unset`."""
    for option in typing.get_args(hint) or (hint,):
        if hasattr(option, "from_dict"):
            return option
    raise JourneyFailed(f"no generated model in {hint}")


def _typed(hint, value):
    return uuid.UUID(str(value)) if uuid.UUID in (typing.get_args(hint) or (hint,)) else value


def release_earnings() -> None:
    result = subprocess.run(
        [os.environ.get("FLASK", str(ROOT / ".venv/bin/flask")), "--app", "app",
         "tasks", "run", "release_pending_earnings"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise JourneyFailed(f"release_pending_earnings failed: {result.stderr[-800:]}")
    print(f"   flask tasks run release_pending_earnings: {result.stdout.strip()[-200:]}")


def pay_a_lesson(api: Api, student, tutor_id: int) -> tuple[int, str, int]:
    print("1. the student saves a card, books a lesson and pays it with the saved card")
    method = api.call(
        student, "POST", "/api/v1/payments/methods/", 201,
        {"provider_method_id": visa_payment_method(), "make_default": True},
    )  # fmt: skip
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    lesson = {"tutor_id": tutor_id, "starts_at": starts.isoformat(), "duration_minutes": 60}
    booking = api.call(student, "POST", "/api/v1/bookings/", 201, lesson)
    step = api.call(student, "POST", "/api/v1/payments/intent/", 201, {"booking_id": booking["id"]})
    paid = api.call(
        student, "POST", "/api/v1/payments/{payment_id}/confirm/", 200,
        {"payment_method_id": method["id"]}, payment_id=step["id"],
    )  # fmt: skip
    if paid["status"] != "succeeded":
        raise JourneyFailed(f"the payment is {paid['status']}, not succeeded: {paid}")
    detail = api.call(student, "GET", "/api/v1/payments/{payment_id}/", 200, payment_id=paid["id"])
    print(f"   paid {detail['amount']} {detail['currency']} (tutor's net {detail['net_amount']})")
    return booking["id"], paid["id"], detail["net_amount"]


def withdraw(api: Api, tutor, net: int) -> None:
    print("3. the tutor reads the wallet, sets bank details and asks for a payout of it all")
    wallet = api.call(tutor, "GET", "/api/v1/wallet/", 200)
    if wallet["balance"] < net:
        raise JourneyFailed(f"the tutor's available balance is {wallet['balance']}, not {net}")
    bank = {"bank_account_holder": "Contract Tutor", "bank_name": "Test Bank",
            "bank_country": "DE", "bank_iban": IBAN}  # fmt: skip
    api.call(tutor, "PATCH", "/api/v1/wallet/settings/", 200, bank)
    payout = api.call(
        tutor, "POST", "/api/v1/payouts/", 201,
        {"amount": wallet["balance"], "payout_method": "bank_transfer"},
    )  # fmt: skip
    if payout["status"] != "pending" or payout["amount"] != wallet["balance"]:
        raise JourneyFailed(f"the payout is not the pending whole balance: {payout}")
    after = api.call(tutor, "GET", "/api/v1/wallet/", 200)
    print(
        f"   payout {payout['id']}: {payout['amount']} {payout['currency']} {payout['status']}; "
        f"available now {after['balance']}"
    )
    if after["balance"] != wallet["balance"] - payout["amount"]:
        raise JourneyFailed(f"the wallet did not move the payout out of available: {after}")


def main(base: str, users_file: str, document_file: str) -> None:
    users = json.loads(Path(users_file).read_text())
    api = Api(base, json.loads(Path(document_file).read_text()))
    student = api.client(users["journey_student"]["token"])
    tutor = api.client(users["journey_tutor"]["token"])
    admin = api.client(users["admin"]["token"])
    booking_id, _, net = pay_a_lesson(api, student, users["journey_tutor"]["id"])
    print("2. an admin completes the lesson; the release task makes the earning available")
    api.call(admin, "POST", "/api/v1/bookings/{booking_id}/complete/", 200, booking_id=booking_id)
    release_earnings()
    withdraw(api, tutor, net)
    print(
        f"journey passed: {api.generated} calls through the generated client, "
        f"{api.plain} over plain HTTP (operations not in the document yet)"
    )


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except JourneyFailed as failure:
        sys.exit(f"journey failed: {failure}")
