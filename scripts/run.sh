#!/usr/bin/env bash
# Runs the portal on the embedded default: SQLite under instance/, eager Celery, and
# localstripe alongside as the payment provider. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=app
VENV=${VENV:-.venv}
PORT=${PORT:-5000}
STRIPE_PORT=${STRIPE_PORT:-8420}
export STRIPE_API_BASE=${STRIPE_API_BASE:-http://127.0.0.1:$STRIPE_PORT}
export STRIPE_JS_URL=${STRIPE_JS_URL:-$STRIPE_API_BASE/js.stripe.com/v3/}
export STRIPE_WEBHOOK_SECRET=${STRIPE_WEBHOOK_SECRET:-whsec_localstripe}
export PORTAL_URL=${PORTAL_URL:-http://127.0.0.1:$PORT}
# Receipts go to a local SMTP server that writes each message to instance/mail.log.
MAIL_PORT=${MAIL_PORT:-1025}
export MAIL_SERVER=${MAIL_SERVER:-127.0.0.1} MAIL_PORT

mkdir -p instance
"$VENV/bin/flask" db upgrade

"$VENV/bin/localstripe" --port "$STRIPE_PORT" > instance/localstripe.log 2>&1 &
STRIPE_PID=$!
"$VENV/bin/python" -m aiosmtpd -n -l "127.0.0.1:$MAIL_PORT" > instance/mail.log 2>&1 &
MAIL_PID=$!
trap 'kill $STRIPE_PID $MAIL_PID 2>/dev/null || true' EXIT INT TERM
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
echo "E-mail (receipts) is written to instance/mail.log."
echo
"$VENV/bin/flask" run --host 127.0.0.1 --port "$PORT"
