#!/usr/bin/env bash
# `make sam-local-test`: SAM CLI runs every function of template.yaml with its live sample
# event (written by target/debug/sam-local), against DynamoDB Local and the SES emulator, and
# serves the API with `sam local start-api`, the Lambda authorizer in front of the protected
# routes. Each answer is checked against .dev/sam-local/expected.json.
#
# Docker: the running engine if there is one; otherwise Debian's docker.io is installed when
# missing (root only) and a dockerd of our own runs with its data under /tmp, without iptables
# rules, and is stopped at the end. Images are not pulled: the invoke image is built here from
# busybox-static and the host's C library (the stand-in for `provided.al2023`; SAM CLI adds its
# own runtime interface emulator to it). Where Docker can pull, `make sam-local` and the same
# commands without --invoke-image use AWS's image.
set -euo pipefail
cd "$(dirname "$0")/.."
sam=${SAM:?set SAM to the sam binary (make sam-local-test does)}
arch=${SAM_LOCAL_ARCH:?set SAM_LOCAL_ARCH (make sam-local-test does)}
out=.dev/sam-local
# Bump the version when the recipe below changes: SAM CLI keeps the image it derives from this
# one under the same repository (`:rapid-<arch>`) and reuses it.
image=auth-service-provided-al2023-v2:local
export SAM_CLI_TELEMETRY=0
work=$(mktemp -d)
started_dockerd=
generator=
api=

cleanup() {
  [ -n "$api" ] && kill "$api" 2>/dev/null && wait "$api" 2>/dev/null || true
  if [ -n "$generator" ]; then exec 9>&-; wait "$generator" 2>/dev/null || true; fi
  if [ -n "$started_dockerd" ]; then
    docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1 || true
    kill "$started_dockerd" 2>/dev/null && wait "$started_dockerd" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

need_package() { # command package
  command -v "$1" >/dev/null && return
  if [ "$(id -u)" != 0 ]; then
    echo "$1 not found: install Debian's $2 package (apt-get install $2)" >&2
    exit 1
  fi
  echo "installing $2 (apt-get)" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2") >/dev/null
}

# The engine.
if ! docker info >/dev/null 2>&1; then
  need_package dockerd docker.io
  need_package docker docker.io
  root=/tmp/auth-service-docker
  mkdir -p "$root"
  export DOCKER_HOST=unix://$root/docker.sock
  dockerd --data-root "$root/data" --exec-root "$root/exec" --pidfile "$root/docker.pid" \
    --host "$DOCKER_HOST" --iptables=false --ip6tables=false --ip-masq=false \
    >"$root/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { tail -20 "$root/dockerd.log"; echo "dockerd did not start" >&2; exit 1; }
fi
host_ip=$(docker network inspect bridge --format '{{(index .IPAM.Config 0).Gateway}}' 2>/dev/null || true)
host_ip=${host_ip:-172.17.0.1}

# The invoke image, built from what is on this machine (no registry).
if ! docker image inspect "$image" >/dev/null 2>&1; then
  need_package busybox busybox-static
  rootfs=$work/rootfs
  mkdir -p "$rootfs"/{bin,tmp,etc,var/task,var/runtime,lib64}
  cp "$(command -v busybox)" "$rootfs/bin/busybox"
  for tool in sh chmod cp mkdir ls cat env rm ln; do ln -s busybox "$rootfs/bin/$tool"; done
  # The C library our binaries link against, from the host.
  for lib in $(ldd target/debug/jwks | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  # The public CA roots (the SDK's TLS client wants some, as on Lambda).
  mkdir -p "$rootfs/etc/ssl/certs"
  cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
  chmod 1777 "$rootfs/tmp"
  tar -C "$rootfs" -cf "$work/rootfs.tar" .
  docker import "$work/rootfs.tar" "$image" >/dev/null
fi

# The samples, and DynamoDB Local and the SES emulator behind them (stopped when fd 9 closes).
rm -f "$out/ready"
exec 9> >(SAM_LOCAL_HOST_IP=$host_ip SES_PORT=0 target/debug/sam-local >"$work/generator.log" 2>&1)
generator=$!
for _ in $(seq 1 600); do [ -f "$out/ready" ] && break; sleep 0.2; done
[ -f "$out/ready" ] || { cat "$work/generator.log"; echo "the samples were not written" >&2; exit 1; }

common=(-t "$out/build/template.yaml" --env-vars "$out/env.json"
  --parameter-overrides "Architecture=$arch" --invoke-image "$image" --skip-pull-image)

# One function: its answer must be the expected one.
invoke() { # binary
  local binary=$1 id answer expected got
  id=$(printf '%s' "$binary" | sed -E 's/(^|-)([a-z])/\U\2/g')Function
  expected=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$out/expected.json" "$binary")
  answer=$("$sam" local invoke "$id" -e "$out/events/$binary.json" "${common[@]}" 2>"$work/$binary.log" | tail -1)
  got=$(printf '%s' "$answer" | python3 -c '
import json, sys
try:
    a = json.loads(sys.stdin.read())
except ValueError:
    print("no JSON answer"); sys.exit()
print("authorized" if a.get("isAuthorized") else a.get("statusCode", a))')
  if [ "$got" = "$expected" ]; then
    echo "ok   $id: $got"
  else
    echo "FAIL $id: expected $expected, got $got: $answer"
    grep -v '^\s*$' "$work/$binary.log" | tail -12
    return 1
  fi
}
export -f invoke
export sam out work common_args="${common[*]}"

started=$(date +%s)
failed=0
binaries=$(python3 -c 'import json,sys; print(" ".join(sorted(json.load(open(sys.argv[1])))))' "$out/expected.json")
# The first one alone (SAM CLI builds its image layer once), the rest two at a time.
first=${binaries%% *}
invoke "$first" || failed=1
for binary in ${binaries#* }; do echo "$binary"; done |
  xargs -P 2 -I{} bash -c 'common=($common_args); invoke "$1"' _ {} || failed=1
echo "sam local invoke: $(printf '%s\n' $binaries | wc -l) functions in $(( $(date +%s) - started )) s"

# The API, with the authorizer in front of the protected routes.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$sam" local start-api "${common[@]}" --port "$port" >"$work/api.log" 2>&1 &
api=$!
for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$port/.well-known/jwks.json" && break; sleep 0.2; done
access=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$out/api.json")
check() { # what expected-status curl-args...
  local what=$1 expected=$2 got
  shift 2
  got=$(curl -s -o "$work/body" -w '%{http_code}' "$@")
  if [ "$got" = "$expected" ]; then
    echo "ok   start-api $what: $got"
  else
    echo "FAIL start-api $what: expected $expected, got $got: $(head -c 300 "$work/body")"
    tail -20 "$work/api.log"
    failed=1
  fi
}
check "GET /.well-known/jwks.json" 200 "http://127.0.0.1:$port/.well-known/jwks.json"
check "GET /me without a token" 401 "http://127.0.0.1:$port/me"
check "GET /me with a forged token" 403 -H "Authorization: Bearer not.a.token" "http://127.0.0.1:$port/me"
check "GET /me with a live token" 200 -H "Authorization: Bearer $access" "http://127.0.0.1:$port/me"
check "GET /console/account (the console's page)" 200 "http://127.0.0.1:$port/console/account"
check "GET /admin/users without the permission" 403 -H "Authorization: Bearer $access" "http://127.0.0.1:$port/admin/users"
echo "sam local: $(( $(date +%s) - started )) s in all"
exit $failed
