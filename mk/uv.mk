# uv, the Python package installer, pinned and installed with pip into $(TOOLS)/uv. It installs
# the Python tools (SAM CLI, cfn-lint, schemathesis, cargo-lambda, zig) into their virtual
# environments in seconds: pip spent about 50 s of CPU on them per fresh clone, most of it
# unpacking and compiling bytecode (docs/build.md). Python itself is the machine's python3;
# uv never downloads one.
#
# Included by mk/sam.mk (and so by the root Makefile). Every variable here is prefixed UV_ (or
# is TOOLS) so nothing collides with the files that include it.

TOOLS ?= .tools
UV_MK := $(lastword $(MAKEFILE_LIST))
UV_VERSION := 0.13.9
UV_VENV := $(TOOLS)/uv
UV := $(UV_VENV)/bin/uv
UV_STAMP := $(UV_VENV)/.installed
export UV_PYTHON_DOWNLOADS := never

$(UV_STAMP): $(UV_MK)
	@command -v python3 >/dev/null || { echo "python3 not found: install Python 3 with venv (apt-get install python3-venv)"; exit 1; }
	python3 -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	touch $@
