# Deployment tooling (AWS SAM) for the auth service.
#
# Included by the root Makefile; it can also be used on its own:
#   make -f mk/sam.mk lint-template
#
# Every variable here is prefixed SAM_ (or is TOOLS) so nothing collides with
# the root Makefile.

# Folder for locally installed tools (ignored by git).
TOOLS ?= .tools

# This file, wherever it is included from: editing it (e.g. bumping a pin)
# reinstalls the tools.
SAM_MK := $(lastword $(MAKEFILE_LIST))
include $(dir $(SAM_MK))uv.mk

SAM_PYTHON ?= python3
# Two virtual environments: what `make test` needs (the linters), and what only `make build`
# needs (cargo-lambda and zig, the arm64 cross toolchain), so a newcomer's `make test` does not
# download a compiler it never runs.
SAM_VENV := $(TOOLS)/venv
SAM_BIN := $(SAM_VENV)/bin
SAM_STAMP := $(SAM_VENV)/.installed
SAM_BUILD_VENV := $(TOOLS)/lambda-build
SAM_BUILD_BIN := $(SAM_BUILD_VENV)/bin
SAM_BUILD_STAMP := $(SAM_BUILD_VENV)/.installed

# Pinned tool versions (bump deliberately, then run `make lint-template`).
SAM_CLI_VERSION := 1.170.0
SAM_CFN_LINT_VERSION := 1.58.0
SAM_CARGO_LAMBDA_VERSION := 1.9.2
# Zig is the cross linker cargo-lambda (cargo-zigbuild) uses to build for
# Amazon Linux on arm64. Pinned to the 0.14 line, the one cargo-lambda is
# tested against, not the newest release: zig changes its CLI between minor
# versions.
SAM_ZIGLANG_VERSION := 0.14.1

SAM_TEMPLATE ?= template.yaml
# sam validate / cfn-lint need some region; it is not used to reach AWS.
SAM_LINT_REGION ?= us-east-1
# Extra arguments for `sam build`, e.g. SAM_BUILD_ARGS="--config-env prod".
SAM_BUILD_ARGS ?=
# Cargo target directory of the Lambda builds. Separate from target/ so a
# `make build` never waits on Cargo's lock while `make test`, `make bench` or an
# editor builds the workspace (and vice versa); arm64 release artifacts are not
# shared with those builds anyway. `rm -rf` it for a clean build.
SAM_CARGO_TARGET_DIR ?= target/sam
# Where cargo-lambda puts each function's bootstrap (<dir>/<binary>/bootstrap); lambda/Makefile
# copies them from here for `sam build`.
SAM_LAMBDA_DIR := $(SAM_CARGO_TARGET_DIR)/lambda
# Every function crate: one binary each, named like its folder.
SAM_FUNCTIONS := $(notdir $(wildcard functions/*))

# No usage data leaves the machine.
export SAM_CLI_TELEMETRY := 0

.PHONY: sam-tools lint-template build

sam-tools: $(SAM_STAMP)

$(SAM_STAMP): $(SAM_MK) $(UV_STAMP)
	$(UV) venv --quiet --allow-existing --python $(SAM_PYTHON) $(SAM_VENV)
	$(UV) pip install --quiet --python $(SAM_BIN)/python \
		"aws-sam-cli==$(SAM_CLI_VERSION)" \
		"cfn-lint==$(SAM_CFN_LINT_VERSION)"
	touch $@

$(SAM_BUILD_STAMP): $(SAM_MK) $(UV_STAMP)
	$(UV) venv --quiet --allow-existing --python $(SAM_PYTHON) $(SAM_BUILD_VENV)
	$(UV) pip install --quiet --python $(SAM_BUILD_BIN)/python \
		"cargo-lambda==$(SAM_CARGO_LAMBDA_VERSION)" \
		"ziglang==$(SAM_ZIGLANG_VERSION)"
	touch $@

# Both linters must report zero findings.
lint-template: $(SAM_STAMP)
	AWS_DEFAULT_REGION=$(SAM_LINT_REGION) AWS_REGION=$(SAM_LINT_REGION) \
		$(SAM_BIN)/sam validate --lint --template $(SAM_TEMPLATE)
	AWS_DEFAULT_REGION=$(SAM_LINT_REGION) \
		$(SAM_BIN)/cfn-lint $(SAM_TEMPLATE)

# Every function for arm64 (Amazon Linux 2023) in ONE cargo invocation: the dependencies
# compile once and the binaries link in parallel. Then `sam build` packages them: each
# function is `BuildMethod: makefile` with `CodeUri: lambda/`, whose Makefile copies that
# function's bootstrap into .aws-sam/build (see docs/build.md for why and what it saves).
build: $(SAM_STAMP) $(SAM_BUILD_STAMP)
	rustup target add aarch64-unknown-linux-gnu
	env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS \
		PATH="$(abspath $(SAM_BUILD_BIN)):$$PATH" CARGO_TARGET_DIR="$(abspath $(SAM_CARGO_TARGET_DIR))" \
		cargo lambda build --release --arm64 --locked \
		--lambda-dir "$(abspath $(SAM_LAMBDA_DIR))" $(addprefix -p ,$(SAM_FUNCTIONS))
	LAMBDA_ARTIFACTS="$(abspath $(SAM_LAMBDA_DIR))" \
		$(SAM_BIN)/sam build --template $(SAM_TEMPLATE) $(SAM_BUILD_ARGS)
