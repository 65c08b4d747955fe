"""The portal's Prometheus instruments, in a leaf module any feature may import.

Under gunicorn (several processes), set PROMETHEUS_MULTIPROC_DIR to an emptied directory
before the processes start: each then writes its values there and `/metrics` adds them
up. Without it the values are this process's own.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUEST_LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer a request, by endpoint, method and status.",
    ["endpoint", "method", "status"],
)
WEBHOOK_EVENTS = Counter(
    "portal_webhook_events_total",
    "Stripe events processed, by type and outcome (processed, ignored, failed).",
    ["type", "outcome"],
)
TASK_RUNS = Counter(
    "portal_task_runs_total",
    "Celery task runs that ended, by task and outcome.",
    ["task", "outcome"],
)
TASK_FAILURES = Counter(
    "portal_task_failures_total", "Celery task runs that raised, by task.", ["task"]
)
TASK_DURATION = Histogram(
    "portal_task_duration_seconds",
    "Time a Celery task ran, by task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, float("inf")),
)
