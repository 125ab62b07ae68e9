# channelgate: `make run` starts the gateway with the demo bot and the web chat; `make test` runs every test.
# Both create .venv and install what they need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml examples/*/pyproject.toml | cksum | cut -d' ' -f1)
CONFIG ?= channelgate.yaml

.PHONY: run test lint typecheck format bench profile soak fuzz chromium clean help i18n

help:
	@echo "make run    start the gateway (demo bot + web chat at http://127.0.0.1:8080/)"
	@echo "make test   lint, type-check and run every test"
	@echo "make bench  run the benchmark harness"
	@echo "make profile  py-spy on every gateway thread under closed-loop load, and the HTTP clients' cost per call"
	@echo "make soak   ~15 min: outage, SIGKILLs, hostile bodies; nothing lost (SOAK_ARGS=... for options)"
	@echo "make fuzz   fuzz every webhook channel for longer (FUZZ_EXAMPLES=5000 per channel, random seed)"
	@echo "make i18n   extract the gateway's own texts and update the translation catalogs"

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]" -e examples/channelgate-relay -e examples/guide-channel
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

$(CONFIG): | $(STAMP)
	$(BIN)/channelgate init --config $(CONFIG)

run: $(STAMP) $(CONFIG)
	$(BIN)/channelgate serve --config $(CONFIG)

# The browser test needs Debian's Chromium (Playwright cannot download its own browser here).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO=sudo; else SUDO=none; fi; \
	  if [ "$$SUDO" = none ]; then echo "warning: cannot install chromium (not root, no sudo): browser tests will be skipped"; \
	  else $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests examples bench
	$(BIN)/ruff check --fix src tests examples bench

# The browser tests run in a process of their own: Playwright's driver is a child process, and a fresh
# process keeps it away from what ~1,500 other tests leave behind.
test: $(STAMP) chromium lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider -m "not browser"
	$(BIN)/pytest -q -p no:cacheprovider -m browser

bench: $(STAMP)
	$(BIN)/python -m bench

# Writes small text summaries to bench/profiles/ (docs/benchmarks.md, "Where the time goes"). py-spy is a
# bench-only tool: installed into the venv here (or `pip install -e .[bench]`), never a gateway dependency.
profile: $(STAMP)
	@$(BIN)/python -c "import shutil, sys; sys.exit(0 if shutil.which('py-spy', path='$(BIN)') else 1)" \
	  || $(BIN)/pip install --quiet py-spy
	$(BIN)/python -m bench.profile
	$(BIN)/python -m bench.clients

# Not in CI (tests/core/test_soak.py runs a 20-second version there). Options: SOAK_ARGS="--store postgres",
# SOAK_ARGS="--duration 60 --outage 20 --pipeline max_backoff=5"; `.venv/bin/python -m bench.soak -h` lists all.
SOAK_ARGS ?=
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

# The webhook fuzz tests run in CI with 200 deterministic examples per channel; this runs them randomly and
# for longer. A failure prints the falsifying body; `make fuzz FUZZ_EXAMPLES=50000` for a night.
FUZZ_EXAMPLES ?= 5000
fuzz: $(STAMP)
	CHANNELGATE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) CHANNELGATE_FUZZ_RANDOM=1 $(BIN)/pytest -q -p no:cacheprovider tests/fuzz/test_webhook_fuzz.py -x

LOCALES := src/channelgate/locales

# The gateway's own texts: extract what the source marks with _() / gettext(), merge into every catalog, compile.
# Then the console's (domain `console`, babel-console.cfg): English and Simplified Chinese.
i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -o $(LOCALES)/channelgate.pot --project=channelgate --version=0.1.0 \
	  --copyright-holder="channelgate contributors" --no-location --sort-output --add-comments=Translators: .
	$(BIN)/pybabel update -D channelgate -i $(LOCALES)/channelgate.pot -d $(LOCALES) -w 110 \
	  --ignore-obsolete --ignore-pot-creation-date
	$(BIN)/pybabel compile -D channelgate -d $(LOCALES) --statistics
	$(BIN)/pybabel extract -F babel-console.cfg -k T -o $(LOCALES)/console.pot --project=channelgate --version=0.1.0 \
	  --copyright-holder="channelgate contributors" --no-location --sort-output .
	$(BIN)/pybabel update -D console -i $(LOCALES)/console.pot -d $(LOCALES) -w 110 \
	  --ignore-obsolete --ignore-pot-creation-date
	$(BIN)/pybabel compile -D console -d $(LOCALES) --statistics

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
