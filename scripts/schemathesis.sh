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

# An administrator (created by the server at start), so the admin operations get past their
# permission checks and are exercised for real; every other operation accepts any user.
email="schemathesis-$RANDOM$RANDOM@example.com"
password="schemathesis-long-passphrase-$RANDOM"

TABLE_NAME=schemathesis \
JWT_ISSUER=http://127.0.0.1:$port JWT_AUDIENCE=auth-service JWT_CLIENT_ID=schemathesis \
JWT_SIGNING_KEY="$(cat "$work/key.pem")" JWT_PUBLIC_JWKS="$(cat "$work/jwks.json")" \
MFA_KEYS="st:$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')" \
MAIL_FROM=no-reply@schemathesis.invalid APP_BASE_URL=http://127.0.0.1:$port SES_PORT=0 \
BOOTSTRAP_ADMIN_EMAIL="$email" BOOTSTRAP_ADMIN_PASSWORD="$password" \
PORT=$port LOG_LEVEL=warn \
  target/debug/devserver > "$work/server.log" 2>&1 &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT

for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$port/.well-known/jwks.json" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$work/server.log"; echo "the local server did not start"; exit 1; }
  sleep 0.1
done

# The administrator's token, so the protected operations get past the authorizer.
fresh_token() {
  curl -fsS -X POST "http://127.0.0.1:$port/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}
# One session per run below, minted now: the runs try wrong current passwords, which lock the
# administrator's email out of logging in again.
access=$(fresh_token)
declare -A minted
for operation in endSession adminEndUserSessions; do
  minted[$operation]=$(fresh_token)
done

# Sign-out everywhere needs no permission: it runs as a user registered just before, whom no
# administrator operation can have disabled (they reuse the ids the user list shows).
plain_user_token() {
  email="schemathesis-user-$RANDOM$RANDOM@example.com"
  curl -fsS -X POST "http://127.0.0.1:$port/auth/register" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\"}" >/dev/null
  fresh_token
}

run() {
  "$st" run openapi.yaml \
    --url "http://127.0.0.1:$port" \
    --header "Authorization: Bearer $access" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$examples" \
    --seed 20261122 \
    --workers 2 \
    --generation-database none \
    --no-color "$@"
}

# Sign-out everywhere, ending one session, and an administrator ending a user's sessions can
# each end the token's own session (schemathesis reuses ids it reads from responses, the
# administrator's own included), after which every other protected operation would only ever
# see the gateway's 403: they run last, on their own.
ending="endSession adminEndUserSessions revokeSessions"
run $(printf -- '--exclude-operation-id %s ' $ending)
for operation in $ending; do
  if [ "$operation" = revokeSessions ]; then access=$(plain_user_token); else access=${minted[$operation]}; fi
  run --include-operation-id "$operation"
done
