#!/usr/bin/env bash
# Runs the portal on the embedded default: SQLite under instance/, localstripe alongside
# as the payment provider, a local mail server, and a Celery worker with beat, so the
# scheduled jobs run as in production. The broker needs no server: kombu's SQLAlchemy
# transport on a SQLite file. Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=app
VENV=${VENV:-.venv}
# Where the demo keeps its files (database, broker, logs); tests point it elsewhere.
RUN_DIR=$(mkdir -p "${RUN_DIR:-instance}" && cd "${RUN_DIR:-instance}" && pwd)
export DATABASE_URL=${DATABASE_URL:-sqlite:///$RUN_DIR/portal.sqlite3}
export CELERY_BROKER_URL=${CELERY_BROKER_URL:-sqla+sqlite:///$RUN_DIR/celery-broker.sqlite3}
export CELERY_RESULT_BACKEND=${CELERY_RESULT_BACKEND:-db+sqlite:///$RUN_DIR/celery-results.sqlite3}
PORT=${PORT:-5000}
STRIPE_PORT=${STRIPE_PORT:-8420}
export STRIPE_API_BASE=${STRIPE_API_BASE:-http://127.0.0.1:$STRIPE_PORT}
export STRIPE_JS_URL=${STRIPE_JS_URL:-$STRIPE_API_BASE/js.stripe.com/v3/}
export STRIPE_WEBHOOK_SECRET=${STRIPE_WEBHOOK_SECRET:-whsec_localstripe}
export PORTAL_URL=${PORTAL_URL:-http://127.0.0.1:$PORT}
# Mail goes to a local SMTP server that writes each message to $RUN_DIR/mail.log.
MAIL_PORT=${MAIL_PORT:-1025}
export MAIL_SERVER=${MAIL_SERVER:-127.0.0.1} MAIL_PORT

"$VENV/bin/flask" db upgrade

"$VENV/bin/localstripe" --port "$STRIPE_PORT" > "$RUN_DIR/localstripe.log" 2>&1 &
STRIPE_PID=$!
"$VENV/bin/python" -m aiosmtpd -n -l "127.0.0.1:$MAIL_PORT" > "$RUN_DIR/mail.log" 2>&1 &
MAIL_PID=$!
# One worker process with beat inside it: SQLite takes one writer at a time anyway.
# The queue's row is made first: kombu's SQLAlchemy transport makes it on first use, and
# beat's thread and the worker doing so at the same moment kill the worker (a unique key).
"$VENV/bin/python" -c "from app import celery_app
with celery_app.connection_for_write() as conn:
    conn.default_channel.queue_declare(queue=celery_app.conf.task_default_queue)"
"$VENV/bin/celery" -A app.celery_app worker --beat --pool solo --loglevel INFO \
  --schedule "$RUN_DIR/celerybeat-schedule" > "$RUN_DIR/worker.log" 2>&1 &
WORKER_PID=$!
trap 'kill $STRIPE_PID $MAIL_PID $WORKER_PID 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 50); do
  curl -fs -o /dev/null "$STRIPE_API_BASE/js.stripe.com/v3/" && break
  sleep 0.2
done
# After localstripe: the demo plans are made at Stripe too.
"$VENV/bin/flask" demo
# localstripe delivers signed webhooks to the portal, like Stripe would.
curl -fs -o /dev/null -u "${STRIPE_SECRET_KEY:-sk_test_localstripe}:" \
  "$STRIPE_API_BASE/_config/webhooks/portal" \
  -d "url=http://127.0.0.1:$PORT/api/v1/webhooks/stripe/" -d "secret=$STRIPE_WEBHOOK_SECRET" \
  || echo "warning: could not register the webhook with localstripe"

echo
echo "M4SH Portal: http://127.0.0.1:$PORT  (localstripe on $STRIPE_API_BASE)"
echo "Test card: 4242 4242 4242 4242, any future expiry, any CVC."
echo "E-mail (receipts, password resets) is written to $RUN_DIR/mail.log."
echo "Scheduled jobs run in a Celery worker with beat: see $RUN_DIR/worker.log and /admin/system."
echo
"$VENV/bin/flask" run --host 127.0.0.1 --port "$PORT"
