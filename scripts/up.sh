#!/usr/bin/env bash
# The production topology on one machine: gunicorn, a Celery worker and Celery beat
# (Procfile, run by honcho) on PostgreSQL and Redis, which are started first if they are
# installed and not running. Migrations are applied before anything starts.
# Every setting can be given in the environment; the defaults are for this machine.
# SIGTERM or Ctrl-C stops all three: gunicorn finishes its requests, the worker its tasks.
set -euo pipefail
cd "$(dirname "$0")/.."
export VENV=${VENV:-.venv}
export FLASK_APP=app

start_services() {
  for script in ../shared/services-start /work/shared/services-start; do
    if [ -x "$script" ]; then "$script"; return; fi
  done
  if command -v pg_isready >/dev/null && ! pg_isready -h 127.0.0.1 -q; then
    ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$ver" ] && pg_ctlcluster "$ver" main start
  fi
  if command -v redis-server >/dev/null && ! redis-cli ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379
  fi
}
start_services

PG=${PG:-postgresql://postgres@127.0.0.1:5432}
export DATABASE_URL=${DATABASE_URL:-$PG/m4sh}
export CELERY_BROKER_URL=${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}
export CELERY_RESULT_BACKEND=${CELERY_RESULT_BACKEND:-$CELERY_BROKER_URL}
export RATELIMIT_STORAGE_URI=${RATELIMIT_STORAGE_URI:-$CELERY_BROKER_URL}
export GUNICORN_BIND=${GUNICORN_BIND:-127.0.0.1:8000}
export WEB_CONCURRENCY=${WEB_CONCURRENCY:-2}
export PORTAL_URL=${PORTAL_URL:-http://$GUNICORN_BIND}

# The database of the default URL is made if missing; a given URL must exist already.
if [ "$DATABASE_URL" = "$PG/m4sh" ]; then
  psql "$PG/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = 'm4sh'" | grep -q 1 \
    || psql "$PG/postgres" -qc "CREATE DATABASE m4sh"
fi

# gunicorn's workers and the Celery worker write their metrics here; /metrics adds them
# up. Emptied at each start, as prometheus-client requires.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$PWD/instance/prometheus}
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR" instance

"$VENV/bin/flask" db upgrade

echo "M4SH Portal (web, worker, beat): http://$GUNICORN_BIND  database $DATABASE_URL"
exec "$VENV/bin/honcho" start -f Procfile
