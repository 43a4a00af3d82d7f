#!/usr/bin/env bash
# Robustness: schemathesis generates requests from openapi.yaml against the local server (with
# DynamoDB Local) and checks that no input yields a 5xx or a response the document does not
# describe. Bounded: a fixed number of cases per operation and a fixed seed, so CI stays fast and
# a failure reproduces. Usage: scripts/schemathesis.sh PATH_TO_ST
set -euo pipefail
cd "$(dirname "$0")/.."
st=${1:?usage: scripts/schemathesis.sh PATH_TO_ST}
examples=${SCHEMATHESIS_MAX_EXAMPLES:-25}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d)
cargo build -q --workspace --locked --bin devserver --bin keygen
target/debug/keygen --private-key-out "$work/key.pem" > "$work/jwks.json" 2>/dev/null

# simplejwt's routes are on (SIMPLEJWT_COMPAT), so their DRF shapes are checked against the
# document too (off, each answers the gateway's 404: tests/it/simplejwt.rs).

# An administrator (created by the server at start), so the admin operations get past their
# permission checks and are exercised for real; every other operation accepts any user.
email="schemathesis-$RANDOM$RANDOM@example.com"
password="schemathesis-long-passphrase-$RANDOM"

TABLE_NAME=schemathesis \
JWT_ISSUER=http://127.0.0.1:$port JWT_AUDIENCE=auth-service JWT_CLIENT_ID=schemathesis \
JWT_SIGNING_KEY="$(cat "$work/key.pem")" JWT_PUBLIC_JWKS="$(cat "$work/jwks.json")" \
MFA_KEYS="st:$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')" \
MAIL_FROM=no-reply@schemathesis.invalid APP_BASE_URL=http://127.0.0.1:$port SES_PORT=0 \
SOURCE_LIMIT_LOGIN=100000 SOURCE_LIMIT_REGISTER=100000 SOURCE_LIMIT_RECOVERY=100000 \
BOOTSTRAP_ADMIN_EMAIL="$email" BOOTSTRAP_ADMIN_PASSWORD="$password" \
SIMPLEJWT_COMPAT=true \
PORT=$port LOG_LEVEL=warn \
  target/debug/devserver > "$work/server.log" 2>&1 &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT

for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$port/.well-known/jwks.json" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$work/server.log"; echo "the local server did not start"; exit 1; }
  sleep 0.1
done

api() { curl -fsS "http://127.0.0.1:$port$1" -H 'Content-Type: application/json' "${@:2}"; }
token_of() { sed -E 's/.*"access_token":"([^"]+)".*/\1/'; }
login() { api /auth/login -d "{\"email\":\"$1\",\"password\":\"$password\"}" | token_of; }

# The administrator's token is minted now, before the runs: they try wrong current passwords,
# which lock the administrator's address out of logging in again.
access=$(login "$email")

# Operations that can end every session of the user they act on (ending one session, signing
# out everywhere, removing a user's two-factor and ending a user's sessions, the last two aimed
# at ids schemathesis read, the caller's own included) run last, each on its own, each as a user
# of its own registered just before (the main run deletes the users it lists and saves the
# `admin` role, which ends the sessions of its holders), so one cannot leave the others only
# the gateway's 403. The administrator makes the admin operations' users administrators.
ending="endSession revokeSessions adminRemoveUserMfa adminEndUserSessions"
admin=$access
fresh_user() {
  local user="schemathesis-$1-$RANDOM$RANDOM@example.com" id
  id=$(api /auth/register -d "{\"email\":\"$user\",\"password\":\"$password\"}" \
    | sed -E 's/.*"id":"([^"]+)".*/\1/')
  case $1 in admin*)
    api "/admin/users/$id" -X PATCH -H "Authorization: Bearer $admin" -d '{"roles":["admin"]}' >/dev/null ;;
  esac
  login "$user"
}

# One worker: hypothesis parses lambda sources with Python's ast, whose recursion-depth
# bookkeeping is shared between threads in CPython 3.11 and fails spuriously under two
# ("AST constructor recursion depth mismatch").
run() {
  "$st" run openapi.yaml \
    --url "http://127.0.0.1:$port" \
    --header "Authorization: Bearer $access" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$examples" \
    --seed 20261122 \
    --workers 1 \
    --generation-database none \
    --no-color "$@"
}

run $(printf -- '--exclude-operation-id %s ' $ending)
for operation in $ending; do
  access=$(fresh_user "$operation")
  run --include-operation-id "$operation"
done
