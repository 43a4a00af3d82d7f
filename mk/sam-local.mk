# `sam local` for real: SAM CLI runs our template, our sample events and our binaries.
#
#   make sam-local       build the host's binaries into a `sam build` of the template, start
#                        DynamoDB Local and the SES emulator, write live sample events and an
#                        --env-vars file into .dev/sam-local/, print the `sam local invoke`
#                        commands; Ctrl-C stops it
#   make sam-local-test  what CI runs: every function through `sam local invoke` with its
#                        sample, and requests through `sam local start-api` with the authorizer
#
# The binaries are the debug builds of the host architecture (the ones the tests build), not a
# second release build; the template's Architecture parameter is set to the host's.

SAM_LOCAL_DIR := .dev/sam-local
SAM_LOCAL_ARCH := $(shell uname -m | sed -e 's/^aarch64$$/arm64/')

.PHONY: sam-local sam-local-build sam-local-test

sam-local-build: tools sam-tools .dev/signing-key.pem .dev/mfa-keys
	cargo build -q --workspace --locked $(addprefix --bin ,$(SAM_FUNCTIONS)) --bin devserver --bin sam-local
	rm -rf $(SAM_LOCAL_DIR)/artifacts $(SAM_LOCAL_DIR)/build
	for f in $(SAM_FUNCTIONS); do \
	  mkdir -p $(SAM_LOCAL_DIR)/artifacts/$$f; \
	  strip -o $(SAM_LOCAL_DIR)/artifacts/$$f/bootstrap target/debug/$$f; \
	done
	LAMBDA_ARTIFACTS=$(abspath $(SAM_LOCAL_DIR)/artifacts) $(SAM_BIN)/sam build \
	  --template $(SAM_TEMPLATE) --build-dir $(SAM_LOCAL_DIR)/build --parallel \
	  --parameter-overrides Architecture=$(SAM_LOCAL_ARCH) > $(SAM_LOCAL_DIR)/build.log 2>&1 \
	  || { cat $(SAM_LOCAL_DIR)/build.log; exit 1; }

# SAM_LOCAL_HOST_IP: where the functions' containers reach this host (Docker's default bridge).
sam-local: sam-local-build
	SAM_LOCAL_ARCH=$(SAM_LOCAL_ARCH) SAM_LOCAL_HOST_IP=$${SAM_LOCAL_HOST_IP:-172.17.0.1} \
	  target/debug/sam-local

sam-local-test: sam-local-build
	SAM_LOCAL_ARCH=$(SAM_LOCAL_ARCH) SAM=$(SAM_BIN)/sam scripts/sam-local-test.sh
