# edgevoice: `make test` and `make demo` work on a fresh Debian / Raspberry Pi OS machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: test demo bench install install-deps clean

## test: install system packages (as root), build .venv with the test extra, run the test suite
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## demo: start the local Voice Live emulator and run a spoken round trip from a bundled recording
demo: $(VENV)/.installed-runtime
	$(BIN)/edgevoice demo

## bench: print the performance figures of this machine
bench: $(VENV)/.installed-runtime
	$(BIN)/edgevoice bench

install-deps:
	PYTHON=$(PYTHON) scripts/system-deps.sh test

# System packages come first (python3-venv among them); then the venv. A .venv whose pip does not
# run (made before python3-venv was installed, or cut short) is removed and made anew.
define system-deps-and-venv
	PYTHON=$(PYTHON) scripts/system-deps.sh $(1)
	@if ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
	  if [ -e $(VENV) ]; then echo "$(VENV) is incomplete (its pip does not run): making it anew"; fi; \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	fi
endef

$(VENV)/.installed-runtime: pyproject.toml
	$(call system-deps-and-venv,runtime)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml
	$(call system-deps-and-venv,test)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-runtime

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache tests/.corpus

## install: install edgevoice as a hardened systemd service on this machine (run as root;
## INSTALL_ARGS=--dry-run shows each step without changing anything)
install:
	$(PYTHON) -m edgevoice install-service $(INSTALL_ARGS)
