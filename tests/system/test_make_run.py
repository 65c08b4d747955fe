"""`make run` runs the scheduled jobs: a Celery worker with beat on a broker that needs no
server (kombu's SQLAlchemy transport on a SQLite file), as in production.

The script is started for real (database, demo data, localstripe, mail, worker, portal),
in a directory of its own and on free ports. Beat's schedule file says two jobs last ran
a day ago, as after a night with the demo stopped, so beat sends them at once rather than
at the next quarter hour; the test waits for the worker to record their runs.
"""

import os
import signal
import sqlite3
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from celery.beat import PersistentScheduler

from tests.support.servers import free_port
from tests.support.tiers import unavailable

ROOT = Path(__file__).resolve().parents[2]
OVERDUE = ("expire_unpaid_bookings", "release_pending_earnings")


def _overdue_schedule(celery_app, path: Path) -> None:
    scheduler = PersistentScheduler(app=celery_app, schedule_filename=str(path))
    for name in OVERDUE:
        scheduler.schedule[name].last_run_at = celery_app.now() - timedelta(days=1)
    scheduler.sync()
    scheduler.close()


def _wait_for(check, seconds: float, what: str, log: Path):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"{what} within {seconds} s; the run's output:\n{log.read_text()[-4000:]}")


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _runs(database: Path) -> list[tuple]:
    if not database.exists():
        return []
    with sqlite3.connect(database) as conn:
        try:
            return conn.execute("SELECT task_name, outcome, task_id FROM task_runs").fetchall()
        except sqlite3.OperationalError:
            return []


@pytest.fixture
def run_dir(tmp_path):
    if not (ROOT / ".venv" / "bin" / "localstripe").exists():
        unavailable("make run: localstripe is not installed in .venv")
    return tmp_path


def test_make_run_runs_a_worker_with_beat_that_runs_scheduled_jobs(app, run_dir):
    _overdue_schedule(app.extensions["celery"], run_dir / "celerybeat-schedule")
    port = free_port()
    env = {
        **os.environ,
        "RUN_DIR": str(run_dir),
        "PORT": str(port),
        "STRIPE_PORT": str(free_port()),
        "MAIL_PORT": str(free_port()),
        "SECRET_KEY": "make-run-test",
        "LOG_REQUESTS": "0",
    }
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        env.pop(name, None)
    log = run_dir / "run.out"
    with log.open("wb") as out:
        run = subprocess.Popen(
            ["scripts/run.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 90, "portal up", log)
        runs = _wait_for(
            lambda: (
                {
                    name
                    for name, outcome, task_id in _runs(run_dir / "portal.sqlite3")
                    if outcome == "succeeded" and task_id
                }.issuperset(OVERDUE)
                and _runs(run_dir / "portal.sqlite3")
            ),
            90,
            "the overdue jobs run by the worker",
            log,
        )
        assert {name for name, _, _ in runs} >= set(OVERDUE)
        assert (run_dir / "celery-broker.sqlite3").exists()
        worker_log = (run_dir / "worker.log").read_text()
        assert "Connected to sqla+sqlite" in worker_log and "beat: Starting" in worker_log
        assert "Scheduler: Sending due task expire_unpaid_bookings" in worker_log
        assert "Traceback" not in worker_log, worker_log
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
