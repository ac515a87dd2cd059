# funnelkit entry points. `make` alone lists them.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= data/sample
OUT    ?= reports

.DEFAULT_GOAL := help

## help: list the targets
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found); set PYTHON=..."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

## install: create .venv and install funnelkit with its dev extras
install: $(STAMP)

## browser: install Debian's chromium (report browser test) and fonts-noto-cjk (Chinese, Japanese, Korean in charts); needs root, skipped otherwise
browser:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing=" chromium"; \
	dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; the browser test or the CJK chart test will be skipped"; \
	  else echo "note:$$missing not installed and not root; the browser test or the CJK chart test will be skipped"; fi; \
	fi

## java: install Debian's default-jre-headless for the Spark engine tests (needs root; skipped otherwise)
java:
	@command -v java >/dev/null 2>&1 || [ -n "$$JAVA_HOME" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null) \
	      || echo "warning: could not install a Java runtime; the Spark tests will be skipped"; \
	  else echo "note: no Java runtime and not root; the Spark tests will be skipped"; fi; }

## report: render the funnel review on the bundled sample data into reports/ and print its path
report: $(STAMP)
	$(BIN)/funnelkit report notebooks/funnel_review.ipynb --data $(DATA) --out $(OUT)

## test: install, then run the whole test suite
test: $(STAMP) browser java
	$(BIN)/python -m pytest

## lint: ruff check and format check
lint: $(STAMP)
	$(BIN)/ruff check funnelkit tests benchmarks
	$(BIN)/ruff format --check funnelkit tests benchmarks

## sample: regenerate the bundled sample in data/sample
sample: $(STAMP)
	$(BIN)/funnelkit sample --leads 6000 --format salesforce --seed 7 --out $(DATA)

## i18n: extract messages (code's _() calls, notebooks' Markdown) into funnelkit/locale/funnelkit.pot; update each .po
i18n: $(STAMP)
	$(BIN)/python -m funnelkit._i18n_extract --root .

## bench: benchmark at 1M leads against DuckDB (BENCH_LEADS=... to change)
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --leads $${BENCH_LEADS:-1000000}

## clean: remove the venv, caches and rendered reports
clean:
	rm -rf $(VENV) .funnelkit-cache reports/*/ reports/index.html

.PHONY: help install browser java report test lint sample i18n bench clean
