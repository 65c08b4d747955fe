"""The statement CSV: the database writes it on PostgreSQL (COPY), Python elsewhere, and
both write the same text, awkward descriptions included."""

from __future__ import annotations

import csv
import io

from portal.extensions import db
from portal.wallets import statement
from portal.wallets.adjustments import credit_wallet, debit_wallet
from portal.wallets.earnings import process_lesson_earning
from portal.wallets.movement import get_wallet


def _both_ways(monkeypatch, wallet_id: int, filters) -> tuple[str, str]:
    by_database = "".join(statement.statement_csv(wallet_id, filters))
    monkeypatch.setattr(statement, "is_postgres", lambda session: False)
    by_python = "".join(statement.statement_csv(wallet_id, filters))
    return by_database, by_python


def test_copy_writes_what_python_writes(app, postgres, tutor, monkeypatch):
    for n in range(3):
        process_lesson_earning(tutor_id=tutor.id, gross=4501 + n, fee=675, idempotency_key=f"e{n}",
                               payment_id=n + 1, memo=f'Paid by "Ann", row {n}')  # fmt: skip
    credit_wallet(tutor_id=tutor.id, amount=300, reason="goodwill,\nsee notes", idempotency_key="c")
    debit_wallet(tutor_id=tutor.id, amount=250, reason="correction", idempotency_key="d")
    db.session.commit()
    wallet_id = get_wallet(tutor.id).id

    by_database, by_python = _both_ways(monkeypatch, wallet_id, statement.StatementFilters())
    assert by_database == by_python
    rows = list(csv.reader(io.StringIO(by_database)))
    assert rows[0] == list(statement.CSV_HEADER)
    assert len(rows) == 1 + 5
    debit, credit = rows[1], rows[2]
    assert (debit[1], debit[3], debit[14:]) == ("debit", "-2.50", ["", "", ""])
    assert credit[2] == "goodwill,\nsee notes" and credit[3] == "3.00"
    assert rows[3][2] == 'Paid by "Ann", row 2' and rows[3][14:] == ["45.03", "6.75", "38.28"]

    only = statement.parse_statement_filters("credit", None, None)
    by_database, by_python = _both_ways(monkeypatch, wallet_id, only)
    assert by_database == by_python and len(by_database.splitlines()) == 1 + 2


def test_an_empty_statement_is_the_header_alone(app, tutor):
    text = "".join(statement.statement_csv(None, statement.StatementFilters()))
    assert text == ",".join(statement.CSV_HEADER) + "\n"
