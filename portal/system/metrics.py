"""`GET /metrics` in Prometheus's text format, and what feeds it.

Counted as they happen (see `portal.instruments`): each request's latency by
endpoint and status, Stripe events by type and outcome, Celery task runs, failures and
durations by task (Celery's signals, in whichever process runs the task; a worker sharing
the web's PROMETHEUS_MULTIPROC_DIR shows in its scrape). Read from the
database at each scrape, so every instance tells the same: payouts open (count and
amount, by status), each scheduled task's last run, the last ledger check's drifts.

The endpoint is off (404) until `METRICS_TOKEN` (sent as `Authorization: Bearer …`) or
`METRICS_ALLOWED_IPS` (addresses or networks, comma-separated; the direct peer's address)
is set; any other caller gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from time import perf_counter

import sqlalchemy as sa
from celery import signals
from flask import Blueprint, Flask, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from portal.extensions import db
from portal.instruments import REQUEST_LATENCY, TASK_DURATION, TASK_FAILURES, TASK_RUNS
from portal.payouts.models import OPEN_STATUSES, PayoutRequest
from portal.security import own_authorization
from portal.subscriptions.models import Subscription, SubscriptionStatus
from portal.system import status

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@own_authorization
def metrics():
    _check_access()
    scrape = CollectorRegistry(auto_describe=True)
    scrape.register(DatabaseCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    body = generate_latest(counted) + generate_latest(scrape)
    return body, 200, {"Content-Type": CONTENT_TYPE_LATEST}


def _check_access() -> None:
    token = current_app.config.get("METRICS_TOKEN")
    networks = allowed_networks(current_app.config.get("METRICS_ALLOWED_IPS"))
    if not token and not networks:
        abort(404)
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return
    if networks and _peer_in(networks):
        return
    abort(403)


def allowed_networks(setting: str | None) -> list:
    """`METRICS_ALLOWED_IPS` as networks; a malformed entry stops the start (see config)."""
    return [
        ipaddress.ip_network(part.strip()) for part in (setting or "").split(",") if part.strip()
    ]


def _peer_in(networks) -> bool:
    try:
        peer = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(peer in network for network in networks)


class DatabaseCollector:
    """What every instance reads alike from the database, at scrape time."""

    def collect(self):
        count = GaugeMetricFamily(
            "portal_payouts_open", "Payouts not yet sent or failed, by status.", labels=["status"]
        )
        amount = GaugeMetricFamily(
            "portal_payouts_open_amount",
            "Minor units of the platform currency in open payouts, by status.",
            labels=["status"],
        )
        rows = dict(
            (row.status, row)
            for row in db.session.execute(
                sa.select(
                    PayoutRequest.status,
                    sa.func.count().label("n"),
                    sa.func.coalesce(sa.func.sum(PayoutRequest.amount), 0).label("amount"),
                )
                .where(PayoutRequest.status.in_(OPEN_STATUSES))
                .group_by(PayoutRequest.status)
            )
        )
        for state in OPEN_STATUSES:
            row = rows.get(state)
            count.add_metric([str(state)], row.n if row else 0)
            amount.add_metric([str(state)], int(row.amount) if row else 0)
        yield count
        yield amount
        yield _subscription_metrics()
        yield from _scheduled_task_metrics()
        yield from _ledger_check_metrics()


def _subscription_metrics() -> GaugeMetricFamily:
    by_status = GaugeMetricFamily(
        "portal_subscriptions", "Subscriptions, by status.", labels=["status"]
    )
    counts = dict(
        db.session.execute(
            sa.select(Subscription.status, sa.func.count()).group_by(Subscription.status)
        ).all()
    )
    for state in SubscriptionStatus:
        by_status.add_metric([str(state)], counts.get(state, 0))
    return by_status


def _scheduled_task_metrics():
    last = GaugeMetricFamily(
        "portal_scheduled_task_last_run_timestamp_seconds",
        "When each scheduled task last started; outcome of that run.",
        labels=["task", "outcome"],
    )
    for task in status.scheduled_tasks():
        if task.last_run is not None:
            last.add_metric(
                [task.name, task.last_run.outcome], task.last_run.started_at.timestamp()
            )
    yield last


def _ledger_check_metrics():
    run = status.last_ledger_check()
    drifts = status.drift_count(run)
    when = GaugeMetricFamily(
        "portal_ledger_check_timestamp_seconds", "When the last ledger check ran (0: never)."
    )
    when.add_metric([], run.started_at.timestamp() if run else 0)
    found = GaugeMetricFamily(
        "portal_ledger_check_drifts",
        "Broken invariants the last ledger check found (-1: none finished).",
    )
    found.add_metric([], -1 if drifts is None else drifts)
    yield when
    yield found


def register_metrics(app: Flask) -> None:
    """Time every request; count every Celery task run (connected once per process)."""
    app.before_request(_start_timer)
    app.after_request(_observe_request)
    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid="portal-metrics-prerun")
    signals.task_postrun.connect(_task_ended, weak=False, dispatch_uid="portal-metrics-postrun")
    signals.task_failure.connect(_task_failed, weak=False, dispatch_uid="portal-metrics-failure")


def _start_timer() -> None:
    g.request_started = perf_counter()


def _observe_request(response):
    started = g.get("request_started")
    if started is not None:
        # The route, not the path: unmatched paths are one series, not one each.
        endpoint = request.endpoint or "unmatched"
        REQUEST_LATENCY.labels(endpoint, request.method, str(response.status_code)).observe(
            perf_counter() - started
        )
    return response


_task_starts: dict[str, float] = {}


def _task_started(task_id=None, task=None, **_):
    _task_starts[task_id] = perf_counter()


def _task_ended(task_id=None, task=None, state=None, **_):
    started = _task_starts.pop(task_id, None)
    TASK_RUNS.labels(task.name, (state or "unknown").lower()).inc()
    if started is not None:
        TASK_DURATION.labels(task.name).observe(perf_counter() - started)


def _task_failed(sender=None, **_):
    TASK_FAILURES.labels(sender.name).inc()
