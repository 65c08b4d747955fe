"""CSV exports written by the database: on PostgreSQL a query's rows leave as CSV text
from ``COPY (SELECT …) TO STDOUT``, streamed a block at a time, never held whole and
never turned into Python rows; other databases get the same text from the `csv` module.

A query for `copy_csv` selects every column already formatted as text (`major_units`,
`utc_text`, `text_or_empty`), so both paths write the same lines (ending in LF). A
column is never NULL: an empty value is an empty field, unquoted, as `csv` writes it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import UTC

import sqlalchemy as sa

from portal.extensions import db
from portal.money import minor_digits

# Text handed to the response at a time (about this many bytes).
CHUNK_BYTES = 64 * 1024
CURSOR_ROWS = 2000


def major_units(column, currency: str):
    """SQL: an amount of minor units as text in major units, "-12.50" (as
    `portal.money.format_major_plain` writes it)."""
    digits = minor_digits(currency)
    value = sa.cast(column, sa.BigInteger)
    if not digits:
        return sa.cast(value, sa.String)
    scale = 10**digits
    whole = sa.cast(sa.func.abs(value).op("/")(scale), sa.String)  # integer division
    fraction = sa.func.lpad(sa.cast(sa.func.abs(value) % scale, sa.String), digits, "0")
    sign = sa.case((value < 0, "-"), else_="")
    return sign + whole + "." + fraction


# Times in CSV files: UTC ISO 8601 to the second, with a `Z`, the same from both paths.
CSV_TIME_PATTERN = 'YYYY-MM-DD"T"HH24:MI:SS"Z"'


def csv_time(value) -> str:
    """A timestamp as the CSV files write it (see CSV_TIME_PATTERN)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_text(column, pattern: str = "YYYY-MM-DD HH24:MI:SS"):
    """SQL (PostgreSQL): a timestamp as UTC text in a `to_char` pattern."""
    return sa.func.to_char(sa.func.timezone("UTC", column), pattern)


def text_or_empty(column):
    return sa.func.coalesce(sa.cast(column, sa.String), "")


def copy_csv(query: sa.Select, header: Sequence[str]) -> Iterator[str]:
    """PostgreSQL: the header, then the query's rows (all text) as CSV, in blocks of about
    `CHUNK_BYTES`, straight from COPY on the session's connection."""
    connection = db.session.connection()
    dialect = connection.dialect
    compiled = query.compile(dialect=dialect)
    params = {}
    for name, value in compiled.params.items():
        process = compiled.binds[name].type.bind_processor(dialect)
        params[name] = process(value) if process else value
    statement = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv, NULL '\\N')"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(header)
    pending, size = [out.getvalue().encode()], 0
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(statement, params) as copy:
            for block in copy:
                pending.append(bytes(block))
                size += len(block)
                if size >= CHUNK_BYTES:
                    yield b"".join(pending).decode()
                    pending, size = [], 0
    finally:
        cursor.close()
    yield b"".join(pending).decode()


def python_csv(rows, header: Sequence[str], line=tuple) -> Iterator[str]:
    """Other databases: the same CSV from rows read through a server-side cursor, each
    made a tuple of text by `line`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(line(row))
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
