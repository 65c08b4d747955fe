"""gunicorn's settings for `gunicorn app:app`, read from this directory.

Sync workers, (2 x CPU cores) + 1 of them, as gunicorn recommends: a worker serves one
request at a time, so no request waits for another thread's turn at the interpreter
lock, which is what stretches the slowest requests under load. Sync workers expect a
buffering proxy (nginx) in front for slow clients and keep-alive.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# The longest request line read (gunicorn's default, stated because the API's document
# names it: a longer one is refused with 414 before the app sees it).
limit_request_line = 4094


def child_exit(server, worker):
    """With PROMETHEUS_MULTIPROC_DIR set, a dead worker's gauges leave /metrics with it."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """The app is loaded: take its objects out of the garbage collector's walks."""
    from portal.runtime import settle_heap

    settle_heap()
