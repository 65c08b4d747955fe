"""Ledger write throughput on PostgreSQL, side by side with pgbench on the same server.

pgbench: its TPC-B-like script with `-c 8 -j 2 -T 15`, initialised in a database of its
own. The ledger: 8 worker processes (no shared GIL) post lesson earnings through
`portal.wallets.earnings.process_lesson_earning` for as long, each one a full unit of
work as the payments feature runs it: lock the wallet, look the key up, insert the entry
and its 3 postings, move the wallet, write the statement line, commit (and the deferred
zero-sum triggers run). Earnings go to `--tutors` tutors at random, so workers contend
on wallet rows the way pgbench's clients contend on its branch rows.

The two take turns for `--rounds` rounds (pgbench, then the ledger, each round), so a
busier spell of the machine lands on both; prints each round's transactions per second,
the ledger's postings per second and the ratio, and the median round's ratio: the goal is
at least 40% of pgbench's TPS. Finishes with the ledger check.
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
from urllib.parse import urlsplit

import sqlalchemy as sa

from bench.common import add_run_options, emit, profiled

POSTINGS_PER_EARNING = 3


def recreate_database(server: str, name: str) -> None:
    engine = sa.create_engine(f"{_sa_url(server)}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
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


def run_pgbench(server: str, database: str, seconds: int, clients: int, threads: int) -> float:
    env = _pg_env(server)
    result = subprocess.run(
        ["pgbench", "-c", str(clients), "-j", str(threads), "-T", str(seconds), database],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", result.stdout)
    if not match:
        raise RuntimeError(f"could not read pgbench's tps:\n{result.stdout}\n{result.stderr}")
    return float(match.group(1))


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
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    # Every worker imports the app and connects, then all start on the same signal.
    ready = ctx.Barrier(workers)
    # Keys new to every call: a key posted before (an earlier round's) is an idempotent
    # replay, a different and slower path than the posting measured here.
    run = uuid.uuid4().hex
    processes = [
        ctx.Process(target=worker, args=(url, tutor_ids, seconds, ready, n, queue, profile, run))
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

    # pgbench and the ledger take turns, round after round, so that a busier spell of this
    # (shared) machine lands on both alike; the median round's ratio is reported.
    rounds, entries = [], 0
    for number in range(args.rounds):
        print(
            f"round {number + 1}: pgbench -c 8 -j 2 -T {args.seconds}, then the ledger: "
            f"{args.workers} workers, {args.tutors} wallets, {args.seconds} s",
            flush=True,
        )
        tps = run_pgbench(args.server, pgbench_db, args.seconds, 8, 2)
        written = run_ledger(
            url, tutor_ids, args.seconds, args.workers, args.profile and not number
        )
        entries += written
        rounds.append((tps, written / args.seconds))
    drifts = check(url)

    print()
    print(f"{'':<10}{'pgbench tx/s':>14}{'ledger tx/s':>13}{'postings/s':>12}{'ratio':>8}")
    for number, (tps, ledger_tps) in enumerate(rounds, 1):
        postings = ledger_tps * POSTINGS_PER_EARNING
        print(f"{'round ' + str(number):<10}{tps:>14.0f}{ledger_tps:>13.0f}{postings:>12.0f}"
              f"{ledger_tps / tps:>8.0%}")  # fmt: skip
    ratio = median(ledger_tps / tps for tps, ledger_tps in rounds)
    print(
        f"ledger / pgbench TPC-B-like (-c 8 -j 2), median round: {ratio:.0%} (goal: at least 40%)"
    )
    print(f"entries written: {entries}; ledger check: {drifts if drifts else 'OK'}")
    emit(
        args,
        {
            "ratio": ratio,
            "tps": median(tps for tps, _ in rounds),
            "ledger_tps": median(ledger_tps for _, ledger_tps in rounds),
            "drifts": len(drifts),
        },
    )


if __name__ == "__main__":
    main()
