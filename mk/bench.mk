# Benchmarks (what they measure and the latest figures: the README's Performance section).
#
#   make bench         release build, criterion token benchmarks, then the runner: prints a
#                      table and writes target/bench/report.json (the runner about 1.5
#                      minutes on 2 cores once the release build is done, plus about 15
#                      minutes of memory soak: 20,000 logins of the login binary, 5 minutes
#                      of logins on the local server)
#   make bench-soak    the memory soak alone (target/bench/soak.json)
#   make bench-check   builds the benchmarks without running anything (`make test`'s one build
#                      compiles the same targets)
#
# Included by the root Makefile, which defines `tools` (DynamoDB Local). Every variable here is
# prefixed BENCH_ (or is TOOLS) so nothing collides with the root Makefile.

TOOLS ?= .tools

# This file, wherever it is included from: editing it (e.g. bumping a pin) reinstalls wrk.
BENCH_MK := $(lastword $(MAKEFILE_LIST))

# wrk, the HTTP load generator, from Debian's package (pinned), unpacked into $(TOOLS)/wrk
# together with the LuaJIT library it links: nothing is installed system-wide. `apt-get
# download` needs no root, only the package lists (`apt-get update` once).
BENCH_WRK_DEB_VERSION := 4.1.0-3+b2
BENCH_WRK_DIR := $(TOOLS)/wrk
BENCH_WRK := $(BENCH_WRK_DIR)/wrk
BENCH_WRK_STAMP := $(BENCH_WRK_DIR)/.installed

.PHONY: bench bench-check bench-tools bench-soak growth

bench-tools: $(BENCH_WRK_STAMP)

$(BENCH_WRK_STAMP): $(BENCH_MK)
	@command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || { \
		echo "wrk comes from Debian's wrk package: apt-get and dpkg-deb are needed"; exit 1; }
	rm -rf $(BENCH_WRK_DIR)
	mkdir -p $(BENCH_WRK_DIR)/debs
	cd $(BENCH_WRK_DIR)/debs && apt-get download -q "wrk=$(BENCH_WRK_DEB_VERSION)" libluajit-5.1-2 || { \
		echo "could not download wrk $(BENCH_WRK_DEB_VERSION): run 'apt-get update' once, then retry"; exit 1; }
	for deb in $(BENCH_WRK_DIR)/debs/*.deb; do dpkg-deb -x "$$deb" $(BENCH_WRK_DIR)/root; done
	printf '%s\n' '#!/bin/sh' \
		'# wrk from $(TOOLS)/wrk/root, with the LuaJIT library unpacked beside it.' \
		'root="$$(dirname "$$0")/root"' \
		'for lib in "$$root"/usr/lib/*-linux-gnu; do LD_LIBRARY_PATH="$$lib$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}"; done' \
		'export LD_LIBRARY_PATH' \
		'exec "$$root/usr/bin/wrk" "$$@"' > $(BENCH_WRK)
	chmod +x $(BENCH_WRK)
	# `wrk --version` prints its version, then its usage, and exits 1.
	{ $(BENCH_WRK) --version 2>&1 || true; } | grep '^wrk '
	touch $@

# One release build of every binary of the workspace (every function, whose init is measured;
# the local server; the runner itself), with --workspace like every other build, so the three
# commands below share one feature resolution and nothing is compiled twice.
bench: tools bench-tools
	cargo build --release --locked --workspace --bins
	cargo bench --locked --workspace --bench tokens
	BENCH_WRK="$(abspath $(BENCH_WRK))" "$${CARGO_TARGET_DIR:-target}/release/bench"
	$(MAKE) --no-print-directory growth

# The data-volume tests at the sizes their figures are quoted for (1,000 logins, 1,000
# refreshes, a user of 20,000 items; `make test` runs them on shorter histories): each asserts
# its bound and prints the times it saw. About two minutes on 2 cores.
growth: tools
	GROWTH_SCALE=full cargo test --locked -p integration-tests --test it -- growth:: --nocapture --test-threads 1

# The memory soak alone (part of `make bench`): the login function's release binary for 20,000
# logins in one process, then the release local server for 5 minutes of logins; prints each
# one's RSS slope after warm-up, writes target/bench/soak.json, fails if either grows. About
# 15 minutes on 2 cores (20,000 Argon2id hashes, then 5 minutes of them on both cores).
bench-soak: tools
	cargo build --release --locked --workspace --bins
	"$${CARGO_TARGET_DIR:-target}/release/bench" soak

# Builds the runner and the criterion benchmarks (debug profile: the code is the same, and a
# release build here would double `make test`'s time). Never runs or times anything.
bench-check:
	cargo build --locked --workspace --bin bench --bin sdk-cpu
	cargo test --locked --workspace --bench '*' --no-run
