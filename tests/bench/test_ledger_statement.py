"""The ledger bench's comparison runs: the earning's own statement, captured from a real
call and sent by pgbench or by psycopg alone, writes a whole earning per transaction,
each under a key of its own, as the portal does (PostgreSQL, with pgbench installed)."""

from __future__ import annotations

import multiprocessing as mp
import shutil

import sqlalchemy as sa

from bench.ledger_writes import (
    _KEY,
    _PAYMENT,
    _TUTOR,
    POSTINGS_PER_EARNING,
    _sa_url,
    capture_earning,
    check,
    drop_database,
    prepare_ledger,
    recreate_database,
    run_driver,
    run_pgbench_script,
    write_pgbench_script,
)
from tests.support.tiers import database_url, unavailable

COUNTS = """
SELECT split_part(e.idempotency_key, ':', 1) AS source, count(DISTINCT e.id) AS entries,
       count(p.id) AS postings, count(DISTINCT l.id) AS lines
FROM ledger_entries e
JOIN ledger_postings p ON p.entry_id = e.id
JOIN wallet_transactions l ON l.entry_id = e.id
GROUP BY 1
"""


def in_own_process(function, *args):
    """`function(*args)` in a process of its own: the bench's steps make apps of their own,
    and the last app made is Celery's default, which this process's tests rely on."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def test_the_captured_earning_writes_whole_earnings_under_new_keys(tmp_path):
    url = database_url()
    if url is None or not url.startswith("postgresql"):
        unavailable("PostgreSQL tier: set TEST_DATABASE_URL to run it")
    if shutil.which("pgbench") is None:
        unavailable("pgbench is not installed (Debian: postgresql-client)")
    server, _, test_database = url.partition("?")[0].rpartition("/")
    name = f"{test_database}_bench_statement"
    recreate_database(server, name)
    bench_url = f"{_sa_url(server)}/{name}"
    engine = sa.create_engine(bench_url)
    try:
        tutors = in_own_process(prepare_ledger, bench_url, 2)
        captured = in_own_process(capture_earning, bench_url, tutors)
        script = tmp_path / "earning.pgbench"
        write_pgbench_script(bench_url, captured, tutors, script)
        text = script.read_text()
        for stand_in in (_KEY, str(_TUTOR), str(_PAYMENT)):
            assert stand_in not in text

        assert run_pgbench_script(server, name, str(script), 1) > 0
        assert run_driver(bench_url, captured, tutors, 1, 1) > 0

        with engine.connect() as conn:
            counts = {row.source: row for row in conn.execute(sa.text(COUNTS))}
        # "bench" is the first earning, which opened the platform accounts.
        assert set(counts) == {"bench", "pgbench", "driver"}
        for row in counts.values():
            assert row.entries >= 1
            assert row.postings == POSTINGS_PER_EARNING * row.entries
            assert row.lines == row.entries
        assert in_own_process(check, bench_url) == []
    finally:
        engine.dispose()
        drop_database(server, name)
