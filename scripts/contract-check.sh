#!/usr/bin/env bash
# CI's contract stage: the live API against its own OpenAPI document.
#
# On a fresh PostgreSQL database, migrated, with localstripe as the payment provider and
# the portal under gunicorn (tasks run eagerly):
#  1. Schemathesis fuzzes every operation of /api/v1/openapi.json once per role token
#     (student, tutor, admin), with every check: no 500, every status and body as the
#     document says, bad input refused, stateful sequences along the links it infers.
#  2. openapi-python-client generates a client from the same document, and
#     scripts/contract_journey.py lives a lesson through it: book, pay with a saved card,
#     complete, release, the tutor's wallet and payout.
# Then the server's log must hold no traceback and no answer that broke its schema. Every
# stage runs; the check fails at the end naming each that missed.
#
# The tools live in their own venv (CONTRACT_VENV, default .venv-contract) from
# requirements-contract.txt. CONTRACT_SEED reproduces a run (the seed is printed);
# CONTRACT_MAX_EXAMPLES bounds the examples per operation; CONTRACT_DB names the database
# (made here, dropped at the end). Fails on the first miss.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TOOLS=${CONTRACT_VENV:-.venv-contract}
PG=${PG:-postgresql://postgres@127.0.0.1:5432}
run_id="contract_$(date +%s)_$$"
db=${CONTRACT_DB:-m4sh_${run_id}}
seed=${CONTRACT_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
max_examples=${CONTRACT_MAX_EXAMPLES:-20}
work=$(mktemp -d)
web_pid=
stripe_pid=
started=$(date +%s)

stage() { echo "== [$(( $(date +%s) - started )) s] $*"; }
free_port() {
  "$VENV/bin/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
}
port=$(free_port)
stripe_port=$(free_port)
base="http://127.0.0.1:$port"

export DATABASE_URL="$PG/$db"
export SECRET_KEY="contract-$run_id" MAIL_SUPPRESS_SEND=1 LOG_REQUESTS=1
export STRIPE_API_BASE="http://127.0.0.1:$stripe_port"
export STRIPE_JS_URL="$STRIPE_API_BASE/js.stripe.com/v3/"
export STRIPE_SECRET_KEY=sk_test_localstripe STRIPE_WEBHOOK_SECRET="whsec_contract_$run_id"
# Earnings are released at the next run of the release task, so the journey can withdraw.
export EARNINGS_HOLD_DAYS=0
# The fuzzer sends thousands of calls a minute from one token: the per-token limit is
# proved by the tests, here it would only turn operations into 429s.
export API_RATE_LIMIT="1000000 per minute"
export GUNICORN_BIND="127.0.0.1:$port" WEB_CONCURRENCY=${CONTRACT_WEB_CONCURRENCY:-2}
unset CELERY_BROKER_URL CELERY_RESULT_BACKEND

fail() {
  echo "contract check: $*" >&2
  echo "--- the server's log, less its request lines" >&2
  grep -v '"logger": "portal.requests"' "$work/web.log" | tail -n 60 >&2 || true
  exit 1
}
cleanup() {
  if [ -n "$web_pid" ]; then kill -TERM "$web_pid" 2>/dev/null || true; wait "$web_pid" 2>/dev/null || true; fi
  if [ -n "$stripe_pid" ]; then kill "$stripe_pid" 2>/dev/null || true; wait "$stripe_pid" 2>/dev/null || true; fi
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

stage "the contract tools ($TOOLS, requirements-contract.txt)"
wanted=$(sha256sum requirements-contract.txt | cut -d' ' -f1)
if [ "$(cat "$TOOLS/.installed" 2>/dev/null || true)" != "$wanted" ]; then
  rm -rf "$TOOLS"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install --quiet --upgrade pip
  "$TOOLS/bin/python" -m pip install --quiet -r requirements-contract.txt
  echo "$wanted" > "$TOOLS/.installed"
fi
"$TOOLS/bin/schemathesis" --version
"$TOOLS/bin/openapi-python-client" --version

stage "a fresh database ($db), migrated"
psql "$PG/postgres" -qc "CREATE DATABASE $db"
"$VENV/bin/flask" --app app db upgrade > "$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; exit 1; }

stage "localstripe on $STRIPE_API_BASE, the portal on $base"
"$VENV/bin/python" -m tests.support.localstripe "$stripe_port" > "$work/localstripe.log" 2>&1 &
stripe_pid=$!
"$VENV/bin/gunicorn" app:app > "$work/web.log" 2>&1 &
web_pid=$!
for _ in $(seq 1 120); do
  curl -fs -o /dev/null "$STRIPE_API_BASE/js.stripe.com/v3/" && curl -fs -o /dev/null "$base/readyz" && break
  kill -0 "$web_pid" 2>/dev/null || fail "the portal stopped before it was ready"
  sleep 0.5
done
curl -fs -o /dev/null "$base/readyz" || fail "/readyz did not answer: $(curl -s "$base/readyz" || true)"
curl -fs -o /dev/null -u "$STRIPE_SECRET_KEY:" "$STRIPE_API_BASE/_config/webhooks/portal" \
  -d "url=$base/api/v1/webhooks/stripe/" -d "secret=$STRIPE_WEBHOOK_SECRET" \
  || fail "localstripe did not start"
curl -fs "$base/api/v1/openapi.json" > "$work/openapi.json" || fail "no /api/v1/openapi.json"

"$VENV/bin/python" scripts/contract_seed.py "$base" "$work/users.json"
token_of() { "$VENV/bin/python" -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]['token'])" "$work/users.json" "$1"; }

stage "Schemathesis, seed $seed, at most $max_examples examples per operation"
echo "   (again: CONTRACT_SEED=$seed CONTRACT_MAX_EXAMPLES=$max_examples $0)"
fuzz() {
  local role=$1
  shift
  "$TOOLS/bin/schemathesis" --config-file scripts/schemathesis.toml --no-color run \
    "$base/api/v1/openapi.json" \
    --checks all --seed "$seed" --max-examples "$max_examples" --workers 1 \
    -H "Authorization: Bearer $(token_of "$role")" "$@"
}
# Revoking a token by id can revoke the very token the fuzzer calls with (ids are small
# and the fuzzer tries them), after which every call is a 401 and the run proves little:
# that operation runs last, on its own, once the role's token is known to have lasted.
revoke="DELETE /api/v1/me/tokens/{token_id}/"
failed_roles=
problems=
for role in student tutor admin; do
  echo "-- as the $role"
  fuzz "$role" --exclude-name "$revoke" || failed_roles="$failed_roles $role"
  if ! curl -fs -o /dev/null -H "Authorization: Bearer $(token_of "$role")" "$base/api/v1/me/"; then
    problems="${problems}The $role's token stopped working while Schemathesis ran. "
  fi
  echo "-- as the $role: $revoke"
  fuzz "$role" --include-name "$revoke" || failed_roles="$failed_roles $role"
done
[ -z "$failed_roles" ] || problems="${problems}Schemathesis found answers that break the contract as:$failed_roles (seed $seed). "

stage "a client generated from the document, and a lesson lived through it"
# (its formatting step runs the tools venv's ruff)
PATH="$PWD/$TOOLS/bin:$PATH" "$TOOLS/bin/openapi-python-client" generate --path "$work/openapi.json" --meta none \
  --config scripts/openapi-client.yaml --output-path "$work/client/m4sh_client" --fail-on-warning \
  > "$work/generate.log" 2>&1 \
  || { cat "$work/generate.log"; fail "openapi-python-client could not generate the client"; }
PYTHONPATH="$work/client" FLASK="$VENV/bin/flask" "$TOOLS/bin/python" scripts/contract_journey.py \
  "$base" "$work/users.json" "$work/openapi.json" || problems="${problems}The journey through the generated client failed. "

stage "the server's log"
if grep -q "Traceback" "$work/web.log"; then problems="${problems}A traceback in the server's log. "; fi
if grep -q "breaks its schema" "$work/web.log"; then problems="${problems}An answer broke its schema. "; fi
[ -z "$problems" ] || fail "$problems"
echo "contract check passed in $(( $(date +%s) - started )) s (seed $seed)"
