"""Month end for the accountant: the invoice CSV with 10,000 invoices in a month next to
1,000, and the zip of a month's 1,000 PDFs.

Server time is measured in process (Flask's test client, no network), signed in as an
admin through the real sign-in form. The CSV is read chunk by chunk as a client would and
never kept; its peak memory is Python's (tracemalloc) while it streams, and goals are the
same peak for 10,000 invoices as for 1,000 (within 25 %) and a few tens of microseconds per
line. The zip is made twice: first with no PDF stored (each rendered once by WeasyPrint
and stored), then again (all stored: nothing rendered); renders are counted.

    .venv/bin/python -m bench.invoice_exports [--database-url URL] [--zip-invoices 1000]

The database is emptied: use a scratch one (default: a temporary SQLite file).
"""

from __future__ import annotations

import argparse
import io
import re
import tempfile
import time
import tracemalloc
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from portal import create_app
from portal.accounts.services import create_user
from portal.extensions import db
from portal.invoices import documents
from portal.invoices.models import CreditNote, Invoice, InvoiceItem

PASSWORD = "bench-password-1"
STUDENTS = 200
CHUNK = 2000
CSV_MONTH = datetime(2026, 11, 1, tzinfo=UTC)  # 10,000 invoices (and a credit note per 10)
SMALL_MONTH = datetime(2026, 9, 1, tzinfo=UTC)  # 1,000: the baseline
ZIP_MONTH = datetime(2026, 10, 1, tzinfo=UTC)


def make_app(url: str):
    return create_app({
        "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False,
        "CELERY_BROKER_URL": None, "LOG_REQUESTS": False,
    })  # fmt: skip


def reset(app) -> list[int]:
    with app.app_context():
        db.drop_all()
        db.create_all()
        create_user("bench-admin@m4sh.app", PASSWORD, "admin")
        students = [create_user(f"bench-student{i}@m4sh.app", PASSWORD, "student",
                                name=f"Student {i}") for i in range(STUDENTS)]  # fmt: skip
        db.session.commit()
        return [s.id for s in students]


def add_month(app, students: list[int], month: datetime, count: int, first: int, notes: bool):
    """`count` paid lesson invoices issued over `month`, numbered from `first`, each with
    its line; with `notes`, a credit note against every tenth."""
    step = timedelta(days=28) / count
    with app.app_context():
        next_id = (db.session.scalar(sa.select(sa.func.max(Invoice.id))) or 0) + 1
        invoices, items, credit = [], [], []
        for n in range(count):
            issued = month + step * n
            price = 4000 + n % 7 * 500
            invoices.append({
                "id": next_id + n, "uuid": uuid.uuid4(), "number": f"INV-2026-{first + n:06d}",
                "user_id": students[n % len(students)], "kind": "lesson", "status": "paid",
                "currency": "usd", "subtotal": price, "discount": 0, "tax_rate": 0, "tax": 0,
                "total": price, "created_at": issued, "issued_at": issued, "due_at": issued,
                "paid_at": issued,
            })  # fmt: skip
            items.append({"invoice_id": next_id + n, "quantity": 1, "unit_price": price,
                          "total": price, "description": f"Lesson, tutor {n % 50}"})  # fmt: skip
            if notes and n % 10 == 0:
                credit.append({"uuid": uuid.uuid4(), "number": f"CN-2026-{first + n:06d}",
                               "invoice_id": next_id + n, "user_id": students[n % len(students)],
                               "amount": 1500, "currency": "usd", "reason": "Refund",
                               "issued_at": issued + timedelta(hours=1)})  # fmt: skip
        for table, rows in ((Invoice, invoices), (InvoiceItem, items), (CreditNote, credit)):
            for offset in range(0, len(rows), CHUNK):
                db.session.execute(sa.insert(table), rows[offset : offset + CHUNK])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(sa.text("SELECT setval(pg_get_serial_sequence('invoices', 'id'), "
                                       "(SELECT max(id) FROM invoices))"))  # fmt: skip
            db.session.commit()
            with db.engine.connect() as conn:
                conn.execute(sa.text("ANALYZE"))


def signed_in(app):
    client = app.test_client()
    page = client.get("/signin").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = client.post("/signin", data={"csrf_token": token, "email": "bench-admin@m4sh.app",
                                            "password": PASSWORD})  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def stream(client, url: str) -> tuple[int, int]:
    """GET `url` and read it as a client would, keeping nothing: (bytes, lines)."""
    response = client.get(url, buffered=False)
    assert response.status_code == 200, response.status_code
    size = lines = 0
    for chunk in response.response:
        data = chunk if isinstance(chunk, bytes) else chunk.encode()
        size += len(data)
        lines += data.count(b"\n")
    response.close()
    return size, lines


def time_csv(client, month: datetime) -> dict:
    end = (month + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    url = f"/admin/invoices/export.csv?from={month:%Y-%m-%d}&to={end:%Y-%m-%d}"
    stream(client, url)  # warm: statements compiled, pages of the cursor cached
    began = time.perf_counter()
    size, lines = stream(client, url)
    elapsed = time.perf_counter() - began
    tracemalloc.start()  # a run of its own: tracing slows everything down
    stream(client, url)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"lines": lines - 1, "seconds": elapsed, "peak_kib": peak / 1024, "bytes": size}


def time_zip(client, month: datetime) -> dict:
    renders = []
    real = documents._write_pdf
    documents._write_pdf = lambda html: renders.append(1) or real(html)
    try:
        began = time.perf_counter()
        response = client.get(f"/admin/invoices/pdfs.zip?month={month:%Y-%m}")
        body = response.get_data()
        elapsed = time.perf_counter() - began
    finally:
        documents._write_pdf = real
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    return {"files": len(archive.namelist()), "seconds": elapsed, "renders": len(renders),
            "mib": len(body) / 2**20}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--zip-invoices", type=int, default=1000)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    app = make_app(url)
    students = reset(app)
    add_month(app, students, SMALL_MONTH, 1_000, 1, notes=True)
    add_month(app, students, CSV_MONTH, 10_000, 10_001, notes=True)
    add_month(app, students, ZIP_MONTH, args.zip_invoices, 1_001, notes=False)
    client = signed_in(app)

    small, large = time_csv(client, SMALL_MONTH), time_csv(client, CSV_MONTH)
    cold, warm = time_zip(client, ZIP_MONTH), time_zip(client, ZIP_MONTH)

    print(f"database: {url.split('://')[0]}; in process, one request at a time")
    print(f"{'CSV export of a month':<38}{'lines':>8}{'ms':>9}{'µs/line':>9}{'peak KiB':>10}")
    for name, f in (("1,000 invoices + 100 notes (baseline)", small),
                    ("10,000 invoices + 1,000 notes", large)):  # fmt: skip
        per = f["seconds"] / f["lines"] * 1e6
        print(f"{name:<38}{f['lines']:8}{f['seconds'] * 1000:9.0f}{per:9.1f}{f['peak_kib']:10.0f}")
    print(f"{'zip of a month':<38}{'PDFs':>8}{'s':>9}{'ms/PDF':>9}{'renders':>10}")
    for name, f in (("nothing stored yet", cold), ("again, all stored", warm)):
        per = f["seconds"] / max(f["files"], 1) * 1000
        print(f"{name:<38}{f['files']:8}{f['seconds']:9.1f}{per:9.1f}{f['renders']:10}")
    print(f"zip size {cold['mib']:.1f} MiB")
    flat = large["peak_kib"] <= small["peak_kib"] * 1.25
    once = cold["renders"] == cold["files"] == args.zip_invoices and warm["renders"] == 0
    print("goals (CSV peak memory flat from 1,000 to 10,000; each PDF rendered once):",
          "met" if flat and once else "NOT met")  # fmt: skip


if __name__ == "__main__":
    main()
