"""Throughput of a student's "my lessons" page with 1,000 bookings, next to a bare route.

Both are served by the same gunicorn (2 workers x 4 threads) in the same run and driven
by 8 client threads. Prints requests/s, p50/p95 latency and the page/bare ratio.

    .venv/bin/python -m bench.lessons_page [--seconds 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import re
import tempfile
from datetime import timedelta

import requests

from bench.common import load, serve, stop
from portal import create_app
from portal.bookings.models import Booking
from portal.extensions import db

PASSWORD = "bench-password-1"


def seed(url: str) -> str:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        from portal.accounts.services import create_user
        from portal.db import utcnow

        db.drop_all()
        db.create_all()
        student = create_user("bench-student@m4sh.app", PASSWORD, "student")
        tutors = [
            create_user(f"bench-tutor{i}@m4sh.app", PASSWORD, "tutor", hourly_rate=4500)
            for i in range(10)
        ]
        start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        db.session.add_all(
            Booking(
                tutor_id=tutors[i % 10].id,
                student_id=student.id,
                starts_at=start + timedelta(hours=2 * i),
                ends_at=start + timedelta(hours=2 * i, minutes=60),
                duration_minutes=60,
                price=4500,
                currency="usd",
                status="scheduled",
            )
            for i in range(1000)
        )
        db.session.commit()
        db.engine.dispose()
    return student_email()


def student_email() -> str:
    return "bench-student@m4sh.app"


def signed_in_session(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/signin").text
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = session.post(
        f"{base}/signin",
        data={"csrf_token": token, "email": student_email(), "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text
    return session


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--port", type=int, default=5123)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    seed(url)
    env = {"DATABASE_URL": url, "SECRET_KEY": "bench", "SIGN_IN_RATE_LIMIT": "1000 per minute"}
    server = serve("bench.lessons_app:app", args.port, env)
    base = f"http://127.0.0.1:{args.port}"
    try:
        sessions = [signed_in_session(base) for _ in range(8)]
        pool = iter(sessions)
        bare = load(
            f"{base}/_bench/bare",
            session_factory=requests.Session,
            concurrency=8,
            seconds=args.seconds,
        )
        page = load(
            f"{base}/lessons?show=all",
            session_factory=lambda: next(pool),
            concurrency=8,
            seconds=args.seconds,
        )
    finally:
        stop(server)
    print(
        f"database: {url.split('://')[0]}; 1,000 bookings; gunicorn 2 workers x 4 threads; "
        f"8 client threads; {args.seconds:.0f} s each"
    )
    for name, figures in (("bare route", bare), ("my lessons", page)):
        print(
            f"{name:>12}: {figures['rps']:8.1f} req/s  p50 {figures['p50_ms']:6.1f} ms  "
            f"p95 {figures['p95_ms']:6.1f} ms  errors {figures['errors']}"
        )
    print(f"       ratio: {page['rps'] / bare['rps']:.1%} of the bare route's throughput")


if __name__ == "__main__":
    main()
