"""Every bench in one go, and one table of its figures against their goals (`make bench`).

Each bench runs in its own process on its own scratch PostgreSQL database (dropped and
made again: `<prefix>_<bench>`), with `--short` unless `--full` is given, and hands its
figures back as JSON. A figure passes when it meets its goal; the run fails (exit 1)
when any figure falls more than `--margin` (25%) short of its goal, measured as a ratio:
value / goal for a floor, goal / value for a ceiling. A bench that crashes fails the run.
Short runs are noisy: the margin is what keeps a busy machine from failing them, while a
real regression (a figure several times its goal) still does.

With `--guard` (CI, `make bench-guard`) a goal not met yet is held at the level it has
reached instead: `bench/floors.json` records that level, measured on the CI machine, and
the run fails when the figure falls more than the margin short of it. A figure better
than its floor by more than the margin is reported, so the floor can be raised; once a
goal is met its floor is deleted and the goal itself is the line.

    .venv/bin/python -m bench.run [--full] [--profile] [--only NAME ...] [--margin 0.25]
        [--guard] [--server postgresql://postgres@127.0.0.1:5432] [--prefix m4sh_bench]
        [--redis-url redis://127.0.0.1:6379/12]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, recreate_database


@dataclass(frozen=True)
class Goal:
    bench: str
    figure: str
    label: str
    goal: float
    ceiling: bool  # True: the figure must stay at or below the goal
    unit: str = ""

    @property
    def key(self) -> str:
        return f"{self.bench}.{self.figure}"

    def ratio(self, value: float, line: float | None = None) -> float:
        """How far the figure is from its goal (or another line): 1 or more meets it."""
        line = self.goal if line is None else line
        if self.ceiling:
            return line / value if value > 0 else float("inf")
        return value / line

    def show(self, value: float) -> str:
        if self.unit == "%":
            return f"{value:.0%}"
        return f"{value:.2f}{self.unit}" if value < 10 else f"{value:.1f}{self.unit}"


GOALS = [
    Goal("payment_overhead", "overhead_ms", "payment: portal − Stripe, per payment", 12, True,
         " ms"),
    Goal("ledger_writes", "ratio", "ledger tx/s ÷ pgbench TPC-B tps", 0.40, False, "%"),
    Goal("webhook_receive", "worst_p95_ms", "webhook: p95 of new events, worst round", 20, True,
         " ms"),
    Goal("webhook_receive", "ratio", "webhook: throughput ÷ bare route", 0.18, False, "%"),
    Goal("dashboard", "export_s_per_100k", "statement CSV, per 100,000 lines", 2, True, " s"),
    Goal("dashboard", "export_memory_growth", "statement CSV: peak memory growth", 1.5, True,
         "x"),
    Goal("dashboard", "earnings_p95_ms", "/earnings p95 (long statement)", 20, True, " ms"),
    Goal("payout_queue", "p95_ms", "payout queue p95, 10,000 pending", 30, True, " ms"),
    Goal("payout_queue", "bulk_500_ms", "bulk approve of 500 payouts", 250, True, " ms"),
    Goal("subscription_renewals", "ratio", "renewal day: renewals ÷ bare ledger posting", 0.50,
         False, "%"),
]  # fmt: skip

FLOORS = Path(__file__).with_name("floors.json")


def load_floors() -> dict[str, float]:
    """The level each goal not met yet has reached, keyed `bench.figure`."""
    return {key: entry["value"] for key, entry in json.loads(FLOORS.read_text()).items()}


# Figures shown in the table without a goal of their own: counts, and the baselines that
# show the machine's own pace (a time goal set on one machine reads differently on a
# slower one: here the work is measured against what no work at all costs).
NOTES = {
    "payment_overhead": [("api_statements", "payment: SQL statements (API)"),
                         ("api_round_trips", "payment: round trips (API)"),
                         ("direct_ms", "baseline: the direct Stripe calls, ms")],
    "ledger_writes": [("tps", "baseline: pgbench TPC-B tps"),
                      ("statement_tps", "the earning's statement by pgbench, tx/s"),
                      ("driver_tps", "the earning's statement by psycopg, tx/s"),
                      ("ledger_tps", "the ledger (process_lesson_earning), tx/s")],
    "webhook_receive": [("bare_rps", "baseline: bare route, requests/s"),
                        ("bare_worst_p95_ms", "baseline: bare route p95, worst round, ms")],
    "payout_queue": [("baseline_p95_ms", "baseline: queue p95 with 10 pending, ms")],
    "subscription_renewals": [("statements_per_renewal", "renewal day: SQL statements each")],
}  # fmt: skip

BENCHES = [
    "payment_overhead",
    "ledger_writes",
    "webhook_receive",
    "dashboard",
    "payout_queue",
    "subscription_renewals",
]
# These make their own databases on the server (a pair each), named from the prefix.
OWN_DATABASES = ("ledger_writes", "subscription_renewals")


def command(name: str, args, database: str, out: Path) -> list[str]:
    line = [sys.executable, "-m", f"bench.{name}", "--json", str(out)]
    if not args.full:
        line.append("--short")
    if args.profile:
        line.append("--profile")
    if name in OWN_DATABASES:
        return [*line, "--server", args.server, "--prefix", f"{args.prefix}_{name}"]
    line += ["--database-url", database]
    if name in ("payment_overhead", "webhook_receive"):
        line += ["--redis-url", args.redis_url]
    return line


def run_one(name: str, args) -> tuple[dict | None, float]:
    database = ""
    if name not in OWN_DATABASES:
        database = recreate_database(args.server, f"{args.prefix}_{name}")
        database = database.replace("postgresql+psycopg://", "postgresql://", 1)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "figures.json"
        started = time.monotonic()
        print(f"== {name}", flush=True)
        done = subprocess.run(command(name, args, database, out), cwd=ROOT, check=False)
        took = time.monotonic() - started
        if done.returncode != 0 or not out.exists():
            print(f"!! {name} failed (exit {done.returncode})", flush=True)
            return None, took
        return json.loads(out.read_text()), took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the long runs, not --short")
    parser.add_argument("--profile", action="store_true", help="profiles under bench/out/")
    parser.add_argument("--only", nargs="*", choices=BENCHES, default=None)
    parser.add_argument("--margin", type=float, default=0.25)
    parser.add_argument(
        "--guard", action="store_true", help="hold goals not met yet at bench/floors.json"
    )
    parser.add_argument(
        "--server",
        default=os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432"),
    )
    parser.add_argument("--prefix", default=os.environ.get("BENCH_DB_PREFIX", "m4sh_bench"))
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    results, took = {}, {}
    for name in args.only or BENCHES:
        results[name], took[name] = run_one(name, args)
    floors = load_floors() if args.guard else {}
    return report(results, took, args.margin, load_before, floors)


def verdict(goal: Goal, value: float, margin: float, floor: float | None) -> str:
    """`met`, `within margin` of the goal, `held` at its floor, or `REGRESSED`."""
    if goal.ratio(value) >= 1:
        return "met"
    if floor is None:
        return "within margin" if goal.ratio(value) >= 1 - margin else "REGRESSED"
    held = goal.ratio(value, floor)
    if held < 1 - margin:
        return "REGRESSED"
    if held > 1 + margin:
        return f"held (floor {goal.show(floor)}: raise it)"
    return f"held (floor {goal.show(floor)})"


def report(
    results: dict, took: dict, margin: float, load_before: float, floors: dict[str, float]
) -> int:
    failed = [name for name, figures in results.items() if figures is None]
    print()
    print(f"{'figure':<46}{'value':>11}{'goal':>11}{'of goal':>9}  verdict")
    for goal in GOALS:
        figures = results.get(goal.bench)
        if goal.bench not in results:
            continue
        if figures is None or goal.figure not in figures:
            print(f"{goal.label:<46}{'—':>11}{goal.show(goal.goal):>11}{'':>9}  FAILED TO RUN")
            continue
        value = figures[goal.figure]
        said = verdict(goal, value, margin, floors.get(goal.key))
        if said == "REGRESSED":
            failed.append(goal.label)
        sign = "≤" if goal.ceiling else "≥"
        print(
            f"{goal.label:<46}{goal.show(value):>11}{sign + goal.show(goal.goal):>11}"
            f"{goal.ratio(value):>8.0%}  {said}"
        )
    for bench, notes in NOTES.items():
        for figure, label in notes:
            if results.get(bench) and figure in results[bench]:
                print(f"{label:<46}{results[bench][figure]:>11.1f}")
    total = sum(took.values())
    print(
        f"\n{len(results)} benches in {total:.0f} s; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs; margin {margin:.0%}"
        + ("; goals not met yet held at bench/floors.json" if floors else "")
    )
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
