"""The production stage's journey and scale-out checks, against a running topology.

Run by scripts/production-check.sh once `make up`'s topology answers on BASE (its own
gunicorn, worker and beat, with localstripe as the payment provider):

1. A lesson paid through localstripe: a student books, pays with a card through the JSON
   API, and the payment's webhook is processed by the real worker; /metrics counts it.
2. Scale-out: a second gunicorn instance and a second Celery worker join, sharing the
   database and Redis. A session started on one instance works on the other; the same
   webhook delivered to both instances is stored and processed once, and a burst of
   events is processed once each by whichever worker takes it; the sign-in rate limit is
   counted across both instances.
3. Beat's every-minute heartbeat is run by a worker and the admin's system page shows it.

Fails (exit 1) on the first miss, saying which.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("VENV", ROOT / ".venv"))
DATABASE_URL = os.environ["DATABASE_URL"]
STRIPE = os.environ["STRIPE_API_BASE"].rstrip("/")
WEBHOOK_SECRET = os.environ["STRIPE_WEBHOOK_SECRET"]
METRICS_TOKEN = os.environ["METRICS_TOKEN"]
STRIPE_KEY = os.environ.get("STRIPE_SECRET_KEY", "sk_test_localstripe")
PASSWORD = "a long demo passphrase 7"


class CheckFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def wait_for(what: str, probe, *, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.25)
    raise CheckFailed(f"{what}: not within {seconds:.0f} s")


def flask(*args: str) -> str:
    result = subprocess.run(
        [str(VENV / "bin" / "flask"), "--app", "app", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    check(result.returncode == 0, f"flask {' '.join(args[:2])} failed: {result.stderr[-500:]}")
    return result.stdout.strip()


def sql(query: str, *params):
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def make_user(role: str, run: str, **extra: str) -> tuple[int, str, str]:
    email = f"{role}-{run}@example.com"
    options = [f"--{k.replace('_', '-')}={v}" for k, v in extra.items()]
    flask("users", "create", email, "--role", role, "--password", PASSWORD, *options)
    token = flask("users", "token", email).splitlines()[-1]
    user_id = sql("SELECT id FROM users WHERE email = %s", email)[0][0]
    return user_id, email, token


def api(base: str, token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.base = base  # type: ignore[attr-defined]
    return session


def call(session: requests.Session, method: str, path: str, expect: int, **kwargs) -> dict:
    response = session.request(method, f"{session.base}{path}", timeout=30, **kwargs)  # type: ignore[attr-defined]
    check(
        response.status_code == expect,
        f"{method} {path}: {response.status_code}, expected {expect}: {response.text[:300]}",
    )
    return response.json() if response.content else {}


def card_payment_method() -> str:
    card = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    data = {f"card[{k}]": v for k, v in card.items()} | {"type": "card"}
    response = requests.post(
        f"{STRIPE}/v1/payment_methods", data=data, auth=(STRIPE_KEY, ""), timeout=10
    )
    response.raise_for_status()
    return response.json()["id"]


def metric(base: str, pattern: str) -> float:
    text = requests.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    ).text
    total = 0.0
    for line in text.splitlines():
        if re.match(pattern, line):
            total += float(line.rsplit(" ", 1)[1])
    return total


# --- 1. a lesson paid through localstripe, its webhook processed by the worker -------


def pay_a_lesson(base: str, run: str) -> str:
    tutor_id, _, _ = make_user("tutor", run, hourly_rate="4000")
    _, _, token = make_user("student", run)
    student = api(base, token)
    starts = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    booking = call(
        student,
        "POST",
        "/api/v1/bookings/",
        201,
        json={"tutor_id": tutor_id, "starts_at": starts.isoformat(), "duration_minutes": 60},
    )
    step = call(
        student, "POST", "/api/v1/payments/intent/", 201, json={"booking_id": booking["id"]}
    )
    payment_id = step["id"]
    call(
        student,
        "POST",
        f"/api/v1/payments/{payment_id}/confirm/",
        200,
        json={"provider_method_id": card_payment_method()},
    )
    wait_for(
        "the payment's succeeded webhook processed by the worker",
        lambda: sql(
            "SELECT 1 FROM webhook_events WHERE type = 'payment_intent.succeeded' "
            "AND status = 'processed'"
        ),
    )
    paid = call(student, "GET", f"/api/v1/payments/{payment_id}/", 200)
    check(paid["status"] == "succeeded", f"the payment is {paid['status']}, not succeeded")
    wait_for(
        "/metrics counting the processed webhook",
        lambda: (
            metric(base, r'^portal_webhook_events_total\{.*type="payment_intent.succeeded"') > 0
        ),
    )
    print(f"lesson paid: payment {payment_id} succeeded, its webhook processed by the worker")
    return payment_id


# --- 2. scale-out ----------------------------------------------------------------------


def start_second_instance(port: int, log_dir: Path) -> list[subprocess.Popen]:
    env = os.environ | {"GUNICORN_BIND": f"127.0.0.1:{port}"}
    web_log = (log_dir / "web2.log").open("wb")
    worker_log = (log_dir / "worker2.log").open("wb")
    web = subprocess.Popen(
        [str(VENV / "bin" / "gunicorn"), "app:app"],
        cwd=ROOT,
        env=env,
        stdout=web_log,
        stderr=web_log,
    )
    worker = subprocess.Popen(
        [
            str(VENV / "bin" / "celery"), "-A", "app.celery_app", "worker",
            "--loglevel", "INFO", "--concurrency", "1", "-n", f"second-{port}@%h",
        ],
        cwd=ROOT, env=env, stdout=worker_log, stderr=worker_log,
    )  # fmt: skip
    return [web, worker]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    check(found is not None, "no CSRF token on the sign-in page")
    return found.group(1)


def session_is_shared(first: str, second: str, run: str) -> None:
    _, email, _ = make_user("student", f"{run}-session")
    browser = requests.Session()
    page = browser.get(f"{first}/signin", timeout=10)
    answer = browser.post(
        f"{first}/signin",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(page.text)},
        allow_redirects=False,
        timeout=10,
    )
    check(answer.status_code in (302, 303), f"sign-in on the first instance: {answer.status_code}")
    other = browser.get(f"{second}/account", allow_redirects=False, timeout=10)
    check(
        other.status_code == 200,
        f"the second instance did not know the session: {other.status_code}",
    )
    check(email in other.text, "the second instance's account page is not the signed-in user's")
    print("sessions: signed in on one instance, known on the other")


def signed(payload: bytes) -> dict[str, str]:
    stamp = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
    return {
        "Stripe-Signature": f"t={stamp},v1={mac.hexdigest()}",
        "Content-Type": "application/json",
    }


def intent_event(event_id: str, intent: dict) -> bytes:
    """Stripe telling again that the paid lesson's intent succeeded, under a new event id,
    as it does when it retries: processed, and changing nothing the first delivery did."""
    event = {
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "livemode": False,
        "api_version": "2024-06-20",
        "data": {"object": intent},
    }
    return json.dumps(event).encode()


def deliver(base: str, payload: bytes) -> None:
    answer = requests.post(
        f"{base}/api/v1/webhooks/stripe/", data=payload, headers=signed(payload), timeout=10
    )
    check(answer.status_code == 200, f"webhook on {base}: {answer.status_code} {answer.text[:200]}")


def webhooks_processed_once(first: str, second: str, run: str, payment_id: str) -> None:
    intent_id = sql("SELECT provider_payment_id FROM payments WHERE uuid = %s", payment_id)[0][0]
    intent = requests.get(
        f"{STRIPE}/v1/payment_intents/{intent_id}", auth=(STRIPE_KEY, ""), timeout=10
    ).json()
    twice = f"evt_twice{run}"
    payload = intent_event(twice, intent)
    for base in (first, second):
        deliver(base, payload)
    burst = [f"evt_burst{run}{n:03d}" for n in range(40)]
    for n, event_id in enumerate(burst):
        deliver((first, second)[n % 2], intent_event(event_id, intent))
    ids = [twice, *burst]

    def all_done():
        rows = sql(
            "SELECT stripe_id, status, attempts FROM webhook_events WHERE stripe_id = ANY(%s)", ids
        )
        return rows if len(rows) == len(ids) and all(r[1] != "received" for r in rows) else None

    rows = wait_for("every delivered event processed", all_done, seconds=60)
    check(len({r[0] for r in rows}) == len(ids), "an event was stored twice")
    wrong = [r for r in rows if r[1] != "processed" or r[2] != 1]
    check(not wrong, f"events not processed exactly once: {wrong[:5]}")
    print(f"webhooks: {len(ids)} events over two instances, each stored and processed once")


def second_worker_took_work(log_dir: Path) -> None:
    log = (log_dir / "worker2.log").read_text(errors="replace")
    taken = len(re.findall(r'"task": "process_webhook_event".*"outcome": "succeeded"', log))
    check(taken > 0, "the second worker processed nothing: the queue is not shared")
    print(f"workers: the second worker ran {taken} tasks of the burst")


def rate_limit_is_shared(first: str, second: str, run: str, limit: int) -> None:
    email = f"nobody-{run}@example.com"
    for n in range(1, 2 * limit + 2):
        base = (first, second)[n % 2]
        client = requests.Session()
        page = client.get(f"{base}/signin", timeout=10)
        answer = client.post(
            f"{base}/signin",
            data={"email": email, "password": "wrong", "csrf_token": csrf_token(page.text)},
            allow_redirects=False,
            timeout=10,
        )
        if answer.status_code == 429:
            # Counted apart, each instance would let `limit` through (2 × limit in all);
            # counted together, the sign-ins earlier in this check already used some.
            check(n <= limit + 1, f"the limit answered 429 at attempt {n}, not {limit + 1}")
            print(f"rate limits: attempt {n} refused across both instances (limit {limit})")
            return
    raise CheckFailed(f"no 429 after {2 * limit + 1} sign-ins spread over two instances")


def beat_runs_and_the_system_page_shows_it(first: str, run: str) -> None:
    wait_for(
        "beat's every-minute heartbeat run by a worker",
        lambda: sql(
            "SELECT 1 FROM task_runs WHERE task_name = 'beat_heartbeat' AND outcome = 'succeeded'"
        ),
        seconds=90,
    )
    _, email, _ = make_user("admin", f"{run}-admin")
    browser = requests.Session()
    page = browser.get(f"{first}/signin", timeout=10)
    browser.post(
        f"{first}/signin",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(page.text)},
        timeout=10,
    )
    system = browser.get(f"{first}/admin/system/", timeout=10)
    check(system.status_code == 200, f"/admin/system/ answered {system.status_code}")
    row = re.search(r'<tr id="task-beat_heartbeat">(.*?)</tr>', system.text, re.S)
    check(row is not None and "succeeded" in row.group(1), "the system page shows no beat run")
    check("Scheduler (beat)" in system.text and "running" in system.text, "no scheduler card")
    print("beat: its heartbeat ran on a worker and the system page shows it")


def main() -> int:
    first = sys.argv[1].rstrip("/")
    second_port = int(sys.argv[2])
    log_dir = Path(sys.argv[3])
    limit = int(os.environ.get("SIGN_IN_RATE_LIMIT", "10 per minute").split()[0])
    run = uuid.uuid4().hex[:10]
    second = f"http://127.0.0.1:{second_port}"
    processes: list[subprocess.Popen] = []
    try:
        payment_id = pay_a_lesson(first, run)
        processes = start_second_instance(second_port, log_dir)
        wait_for("the second instance ready", lambda: _ready(second), seconds=60)
        session_is_shared(first, second, run)
        webhooks_processed_once(first, second, run, payment_id)
        second_worker_took_work(log_dir)
        beat_runs_and_the_system_page_shows_it(first, run)
        # Last: it spends the address's sign-in allowance.
        rate_limit_is_shared(first, second, run, limit)
    except CheckFailed as failure:
        print(f"scale-out check: {failure}", file=sys.stderr)
        for name in ("web2.log", "worker2.log"):
            path = log_dir / name
            if path.exists():
                print(f"--- {name}", file=sys.stderr)
                print(path.read_text(errors="replace")[-3000:], file=sys.stderr)
        return 1
    finally:
        stop(processes)
    return 0


def _ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


if __name__ == "__main__":
    sys.exit(main())
