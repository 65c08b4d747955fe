"""Ledger write throughput on PostgreSQL, side by side with pgbench on the same server.

pgbench: its TPC-B-like script with `-c 8 -j 2 -T 15`, initialised in a database of its
own. The ledger: 8 worker processes (no shared GIL) post lesson earnings through
`portal.wallets.earnings.process_lesson_earning` for as long, each one a full unit of
work as the payments feature runs it: lock the wallet, look the key up, insert the entry
and its 3 postings, move the wallet, write the statement line, commit (and the deferred
zero-sum triggers run). Earnings go to `--tutors` tutors at random, so workers contend
on wallet rows the way pgbench's clients contend on its branch rows.

Two more runs show where an earning's time goes: the one statement the portal sends for
it (captured from a real call, parameters and all) run by pgbench's own client (what
the database alone makes of this unit of work), then sent by psycopg alone from the same
8 processes (Python without SQLAlchemy and the portal's code). Each transaction is
BEGIN, the statement, COMMIT, as the portal's are.

The four take turns for `--rounds` rounds (pgbench, the statement by pgbench, by
psycopg, the ledger, each round), so a busier spell of the machine lands on all; prints
each round's transactions per second and their ratios to pgbench's, the ledger's
postings per second, and the median round's ratios: the goal is the ledger at least 40%
of pgbench's TPS. Finishes with the ledger check.
The two databases are named by `--prefix` (default m4sh_bench): <prefix>_ledger and
<prefix>_pgbench, dropped and made again.

    .venv/bin/python -m bench.ledger_writes [--seconds 15] [--rounds 3] [--workers 8] [--tutors 64]
        [--server postgresql://postgres@127.0.0.1:5432] [--pgbench-scale 8]
        [--prefix m4sh_bench] [--short] [--profile] [--json FILE]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import subprocess
import time
import uuid
from statistics import median
from typing import NamedTuple
from urllib.parse import urlsplit

import sqlalchemy as sa

from bench.common import OUT, add_run_options, emit, profiled

POSTINGS_PER_EARNING = 3


class Round(NamedTuple):
    """One round's transactions per second."""

    tps: float  # pgbench's TPC-B-like
    statement: float  # the earning's statement by pgbench
    driver: float  # the earning's statement by psycopg
    ledger: float  # the portal


def recreate_database(server: str, name: str) -> None:
    _on_server(
        server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'
    )


def drop_database(server: str, name: str) -> None:
    _on_server(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _on_server(server: str, *statements: str) -> None:
    engine = sa.create_engine(f"{_sa_url(server)}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


def _sa_url(server: str) -> str:
    return server.replace("postgresql://", "postgresql+psycopg://", 1)


def _pg_env(server: str) -> dict:
    parts = urlsplit(server)
    env = dict(os.environ, PGHOST=parts.hostname or "127.0.0.1", PGPORT=str(parts.port or 5432))
    env["PGUSER"] = parts.username or "postgres"
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return env


def prepare_pgbench(server: str, database: str, scale: int) -> None:
    recreate_database(server, database)
    subprocess.run(
        ["pgbench", "-i", "-q", "-s", str(scale), database],
        env=_pg_env(server),
        check=True,
        capture_output=True,
    )


def run_pgbench(
    server: str, database: str, seconds: int, clients: int, threads: int, extra: tuple = ()
) -> float:
    env = _pg_env(server)
    result = subprocess.run(
        ["pgbench", "-c", str(clients), "-j", str(threads), "-T", str(seconds), *extra, database],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", result.stdout)
    if not match:
        raise RuntimeError(f"could not read pgbench's tps:\n{result.stdout}\n{result.stderr}")
    return float(match.group(1))


def capture_earning(url: str, tutor_ids: list[int]) -> tuple[str, dict]:
    """The one statement (SQL and parameters) `process_lesson_earning` sends once the
    wallet and the platform accounts exist (a first earning opens those, committed)."""
    from portal.extensions import db
    from portal.wallets.earnings import process_lesson_earning

    app = _app(url)
    sent: list[tuple[str, dict]] = []

    def note(conn, cursor, statement, parameters, *args):
        sent.append((statement, parameters))

    with app.app_context():
        earning = {"tutor_id": tutor_ids[0], "gross": 5000, "fee": 750, "payment_id": 1}
        process_lesson_earning(**earning, idempotency_key="bench:opening")
        db.session.commit()
        sa.event.listen(db.engine, "before_cursor_execute", note)
        process_lesson_earning(**earning, idempotency_key="bench:captured")
        sa.event.remove(db.engine, "before_cursor_execute", note)
        db.session.rollback()
        db.engine.dispose()
    if len(sent) != 1:
        raise RuntimeError(f"an earning sent {len(sent)} statements, not the one expected")
    return sent[0]


def vary(parameters: dict, tutor_id, payment_id, key) -> dict:
    """The captured parameters for another earning: its tutor, payment and key."""
    return dict(
        parameters,
        lock_tutor_id=tutor_id,
        tutor_id=tutor_id,
        payment_id=payment_id,
        line_payment_id=payment_id,
        idempotency_key=key,
    )


# Stand-ins rendered into the statement, then replaced by pgbench's own expressions.
_TUTOR, _PAYMENT, _KEY = 2_147_480_001, 2_147_480_002, "pgbench-key-stand-in"


def write_pgbench_script(url: str, captured: tuple[str, dict], tutor_ids: list[int], path) -> None:
    """The captured earning as a pgbench script: each transaction a random tutor and
    payment id and a new key; BEGIN, the statement, COMMIT."""
    import psycopg

    statement, parameters = captured
    with psycopg.connect(_driver_url(url)) as conn:
        sql = psycopg.ClientCursor(conn).mogrify(
            statement, vary(parameters, _TUTOR, _PAYMENT, _KEY)
        )
    sql = (
        " ".join(sql.split())
        .replace(str(_TUTOR), ":tutor")
        .replace(str(_PAYMENT), ":payment")
        .replace(f"'{_KEY}'", "('pgbench:' || :client_id || ':' || md5(clock_timestamp()::text))")
    )
    with open(path, "w") as script:
        script.write(f"\\set tutor random({min(tutor_ids)}, {max(tutor_ids)})\n")
        script.write("\\set payment random(1, 2000000000)\n")
        script.write(f"BEGIN;\n{sql};\nCOMMIT;\n")


def run_pgbench_script(server: str, database: str, script: str, seconds: int) -> float:
    """Transactions per second of `script` by 8 pgbench clients on 2 threads."""
    return run_pgbench(server, database, seconds, 8, 2, ("-n", "-M", "prepared", "-f", script))


def _driver_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def driver_worker(url, captured, tutor_ids, seconds, ready, n, out, run) -> None:
    """The captured earning sent by psycopg alone (prepared, as the portal's is), one
    transaction each: Python, without SQLAlchemy and the portal's code around it."""
    import psycopg

    statement, parameters = captured
    rng = random.Random(n)
    done = 0
    with psycopg.connect(_driver_url(url)) as conn:
        conn.execute("SELECT 1")
        conn.rollback()
        ready.wait()
        deadline = time.time() + seconds
        while time.time() < deadline:
            key = f"driver:{run}:{n}:{done}"
            values = vary(parameters, rng.choice(tutor_ids), n * 100_000_000 + done, key)
            conn.execute(statement, values, prepare=True).fetchone()
            conn.commit()
            done += 1
    out.put(done)


def _app(url: str):
    from portal import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 2, "pool_pre_ping": False},
        }
    )


def prepare_ledger(url: str, tutors: int) -> list[int]:
    from portal.accounts.services import create_user
    from portal.extensions import db
    from portal.wallets.movement import get_or_create_wallet

    app = _app(url)
    with app.app_context():
        db.create_all()
        ids = []
        for i in range(tutors):
            tutor = create_user(
                f"bench-tutor{i}@m4sh.app", "bench-password-1", "tutor", hourly_rate=4500
            )
            get_or_create_wallet(tutor.id)
            ids.append(tutor.id)
        db.session.commit()
        db.engine.dispose()
    return ids


def worker(
    url: str,
    tutor_ids: list[int],
    seconds: float,
    ready,
    n: int,
    out,
    profile: bool = False,
    run: str = "",
) -> None:
    from portal.extensions import db
    from portal.wallets.earnings import process_lesson_earning

    app = _app(url)
    rng = random.Random(n)
    done = 0
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))  # connect before the clock starts
        db.session.rollback()
        ready.wait()
        deadline = time.time() + seconds
        profiler = profiled(f"ledger_writes_worker{n}", profile and n == 0)
        profiler.__enter__()
        while time.time() < deadline:
            gross = rng.randint(1000, 9000)
            process_lesson_earning(
                tutor_id=rng.choice(tutor_ids),
                gross=gross,
                fee=gross * 15 // 100,
                idempotency_key=f"bench:{run}:{n}:{done}",
                payment_id=n * 100_000_000 + done,
            )
            db.session.commit()
            done += 1
        profiler.__exit__(None, None, None)
        db.engine.dispose()
    out.put(done)


def run_ledger(
    url: str, tutor_ids: list[int], seconds: int, workers: int, profile: bool = False
) -> int:
    """Earnings written in `seconds` by `workers` processes through the portal."""
    return run_processes(worker, (url, tutor_ids, seconds), workers, (profile,))


def run_driver(url: str, captured, tutor_ids: list[int], seconds: int, workers: int) -> int:
    """Earnings written in `seconds` by `workers` processes sending the statement alone."""
    return run_processes(driver_worker, (url, captured, tutor_ids, seconds), workers, ())


def run_processes(target, head: tuple, workers: int, tail: tuple) -> int:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    # Every worker imports the app and connects, then all start on the same signal.
    ready = ctx.Barrier(workers)
    # Keys new to every call: a key posted before (an earlier round's) is an idempotent
    # replay, a different and slower path than the posting measured here.
    run = uuid.uuid4().hex
    processes = [
        ctx.Process(target=target, args=(*head, ready, n, queue, *tail, run))
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    total = sum(queue.get() for _ in processes)
    for process in processes:
        process.join()
    return total


def check(url: str) -> list:
    from portal.books.checks import check_invariants
    from portal.extensions import db

    app = _app(url)
    with app.app_context():
        drifts = check_invariants()
        db.engine.dispose()
    return drifts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server",
        default=os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432"),
    )
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--tutors", type=int, default=64)
    parser.add_argument("--pgbench-scale", type=int, default=8)
    parser.add_argument("--prefix", default="m4sh_bench")
    add_run_options(parser)
    args = parser.parse_args()
    if args.short:
        args.seconds, args.rounds = 5, 2
    pgbench_db, ledger_db = f"{args.prefix}_pgbench", f"{args.prefix}_ledger"
    prepare_pgbench(args.server, pgbench_db, args.pgbench_scale)
    url = f"{_sa_url(args.server)}/{ledger_db}"
    recreate_database(args.server, ledger_db)
    tutor_ids = prepare_ledger(url, args.tutors)
    captured = capture_earning(url, tutor_ids)
    OUT.mkdir(exist_ok=True)
    script = OUT / f"{args.prefix}_earning.pgbench"  # kept, to read or run again
    write_pgbench_script(url, captured, tutor_ids, script)

    # The runs take turns, round after round, so that a busier spell of this (shared)
    # machine lands on all alike; the median round's ratios are reported.
    rounds, entries = [], 0
    for number in range(args.rounds):
        print(
            f"round {number + 1}, {args.seconds} s each: pgbench -c 8 -j 2; the earning's "
            f"statement by pgbench, then by psycopg; the ledger: {args.workers} workers, "
            f"{args.tutors} wallets",
            flush=True,
        )
        tps = run_pgbench(args.server, pgbench_db, args.seconds, 8, 2)
        alone = run_pgbench_script(args.server, ledger_db, str(script), args.seconds)
        driver = run_driver(url, captured, tutor_ids, args.seconds, args.workers)
        written = run_ledger(
            url, tutor_ids, args.seconds, args.workers, args.profile and not number
        )
        entries += written
        rounds.append(Round(tps, alone, driver / args.seconds, written / args.seconds))
    drifts = check(url)

    print()
    print("transactions per second, and their ratio to pgbench's TPC-B-like")
    print(f"{'':<9}{'TPC-B':>7}{'statement by pgbench':>22}{'by psycopg':>18}"
          f"{'the ledger':>18}{'postings/s':>12}")  # fmt: skip
    for number, r in enumerate(rounds, 1):
        postings = r.ledger * POSTINGS_PER_EARNING
        print(f"{'round ' + str(number):<9}{r.tps:>7.0f}{r.statement:>15.0f}"
              f"{r.statement / r.tps:>7.0%}{r.driver:>11.0f}{r.driver / r.tps:>7.0%}"
              f"{r.ledger:>11.0f}{r.ledger / r.tps:>7.0%}{postings:>12.0f}")  # fmt: skip
    ratio = median(r.ledger / r.tps for r in rounds)
    print(
        f"median round: the statement by pgbench {median(r.statement / r.tps for r in rounds):.0%}"
        f", by psycopg {median(r.driver / r.tps for r in rounds):.0%}, the ledger {ratio:.0%} "
        "(goal: at least 40%)"
    )
    print(f"entries written: {entries}; ledger check: {drifts if drifts else 'OK'}")
    emit(
        args,
        {
            "ratio": ratio,
            "tps": median(r.tps for r in rounds),
            "statement_tps": median(r.statement for r in rounds),
            "driver_tps": median(r.driver for r in rounds),
            "ledger_tps": median(r.ledger for r in rounds),
            "drifts": len(drifts),
        },
    )


if __name__ == "__main__":
    main()
