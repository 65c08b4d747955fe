#!/usr/bin/env bash
# CI's production stage: `make up`'s topology on a fresh PostgreSQL database and Redis,
# with localstripe as the payment provider; /readyz green; a scheduled task queued to the
# real worker is recorded as run; /metrics answers and shows it; a lesson is paid and its
# webhook processed by the worker; a second web instance and a second worker join and
# share sessions, webhooks and rate limits (scripts/scale_out_check.py); SIGTERM stops
# web, worker and beat. Fails on the first miss.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PG=${PG:-postgresql://postgres@127.0.0.1:5432}
run_id="prod_$(date +%s)_$$"
db="m4sh_${run_id}"
free_port() {
  "$VENV/bin/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
}
port=$(free_port)
second_port=$(free_port)
stripe_port=$(free_port)
work=$(mktemp -d)
up_pid=
stripe_pid=

export DATABASE_URL="$PG/$db"
export CELERY_BROKER_URL=${PRODUCTION_CHECK_REDIS_URL:-redis://127.0.0.1:6379/14}
export GUNICORN_BIND="127.0.0.1:$port"
export PROMETHEUS_MULTIPROC_DIR="$work/prometheus"
export METRICS_TOKEN="check-$run_id"
export WEB_CONCURRENCY=2 WORKER_CONCURRENCY=1
export SECRET_KEY="check-$run_id" MAIL_SUPPRESS_SEND=1
export STRIPE_API_BASE="http://127.0.0.1:$stripe_port"
export STRIPE_JS_URL="$STRIPE_API_BASE/js.stripe.com/v3/"
export STRIPE_SECRET_KEY=sk_test_localstripe STRIPE_WEBHOOK_SECRET="whsec_check_$run_id"
export SIGN_IN_RATE_LIMIT="10 per minute"
# What up.sh would derive, spelled out so the second instance shares it too.
export CELERY_RESULT_BACKEND="$CELERY_BROKER_URL" RATELIMIT_STORAGE_URI="$CELERY_BROKER_URL"
base="http://$GUNICORN_BIND"

fail() { echo "production check: $*" >&2; echo "--- log" >&2; tail -n 60 "$work/up.log" >&2 || true; exit 1; }
cleanup() {
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then kill -TERM "$up_pid" || true; sleep 3; fi
  if [ -n "$stripe_pid" ]; then kill "$stripe_pid" 2>/dev/null || true; fi
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql "$PG/postgres" -qc "CREATE DATABASE $db" 2>/dev/null || {
  # The services may not be up yet: the topology's own script starts them.
  for script in ../shared/services-start /work/shared/services-start; do
    if [ -x "$script" ]; then "$script" >/dev/null; break; fi
  done
  psql "$PG/postgres" -qc "CREATE DATABASE $db"
}
"$VENV/bin/python" -c "import redis, sys; redis.Redis.from_url(sys.argv[1]).flushdb()" "$CELERY_BROKER_URL"

# localstripe, without its on-disk state, delivering signed webhooks to the topology.
"$VENV/bin/python" -m tests.support.localstripe "$stripe_port" > "$work/localstripe.log" 2>&1 &
stripe_pid=$!
for _ in $(seq 1 60); do
  curl -fs -o /dev/null "$STRIPE_API_BASE/js.stripe.com/v3/" && break
  sleep 0.5
done
curl -fs -o /dev/null -u "$STRIPE_SECRET_KEY:" "$STRIPE_API_BASE/_config/webhooks/portal" \
  -d "url=$base/api/v1/webhooks/stripe/" -d "secret=$STRIPE_WEBHOOK_SECRET" \
  || fail "localstripe did not start"

echo "== make up's topology on $db, $base"
./scripts/up.sh > "$work/up.log" 2>&1 &
up_pid=$!

ready=
for _ in $(seq 1 120); do
  kill -0 "$up_pid" 2>/dev/null || fail "the topology stopped before it was ready"
  if curl -fs "$base/readyz" > "$work/ready.json" 2>/dev/null; then ready=1; break; fi
  sleep 0.5
done
[ -n "$ready" ] || fail "/readyz did not turn green in 60 s: $(curl -s "$base/readyz" || true)"
echo "readyz: $(cat "$work/ready.json")"
grep -q '"broker":"ok"' "$work/ready.json" || grep -q '"broker": "ok"' "$work/ready.json" \
  || fail "/readyz did not check the broker"

grep -q "beat.1 .*beat: Starting" "$work/up.log" || fail "beat did not start"

echo "== a scheduled task through the real worker"
FLASK_APP=app "$VENV/bin/celery" -A app.celery_app call verify_ledger > /dev/null
outcome=
for _ in $(seq 1 60); do
  outcome=$(psql "$DATABASE_URL" -tAc \
    "SELECT outcome FROM task_runs WHERE task_name = 'verify_ledger' ORDER BY id DESC LIMIT 1")
  [ "$outcome" = "succeeded" ] && break
  sleep 0.5
done
[ "$outcome" = "succeeded" ] || fail "verify_ledger was not recorded as run (outcome: '$outcome')"
echo "verify_ledger: $outcome"
grep -q '"message": "task".*"task": "verify_ledger".*"outcome": "succeeded"' "$work/up.log" \
  || fail "the worker wrote no JSON line for verify_ledger"

echo "== /metrics"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/metrics")
[ "$code" = "403" ] || fail "/metrics without the token answered $code, not 403"
curl -fs -H "Authorization: Bearer $METRICS_TOKEN" "$base/metrics" > "$work/metrics.txt" \
  || fail "/metrics did not answer with the token"
grep -q '^portal_ledger_check_drifts 0' "$work/metrics.txt" || fail "no ledger check in /metrics"
grep -q '^portal_http_request_duration_seconds_count{endpoint="health.readyz"' "$work/metrics.txt" \
  || fail "no request latency in /metrics"
grep -q '^portal_task_runs_total{.*task="verify_ledger"' "$work/metrics.txt" \
  || fail "the worker's task run is not in /metrics"
echo "metrics: $(grep -c '^portal_' "$work/metrics.txt") portal samples"

echo "== a lesson paid through localstripe, then scale-out: two web instances, two workers"
"$VENV/bin/python" scripts/scale_out_check.py "$base" "$second_port" "$work" \
  || fail "the journey or the scale-out check failed"

echo "== SIGTERM"
children=$(pgrep -P "$up_pid" || true)
descendants="$children $(for c in $children; do pgrep -P "$c" || true; done)"
kill -TERM "$up_pid"
for _ in $(seq 1 60); do
  kill -0 "$up_pid" 2>/dev/null || break
  sleep 0.5
done
kill -0 "$up_pid" 2>/dev/null && fail "honcho still runs 30 s after SIGTERM"
sleep 1
for pid in $descendants; do
  kill -0 "$pid" 2>/dev/null && fail "process $pid ($(ps -o args= -p "$pid")) outlived SIGTERM"
done
up_pid=
grep -q "Traceback" "$work/up.log" && fail "a traceback in the topology's log"
echo "production check passed"
