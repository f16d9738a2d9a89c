# medval — the two commands a fresh machine needs are `make demo` and `make test`.
PYTHON ?= python3
PIP    ?= $(PYTHON) -m pip
export ORT_DISABLE_TELEMETRY := 1
export GX_ANALYTICS_ENABLED := false
export MPLBACKEND := Agg

.PHONY: install install-test system-deps demo test test-slow bench clean

# What a QA machine needs to run validations (onnxruntime, no torch).
install:
	$(PIP) install -q -c constraints.txt -e .

# Tests also train a recipe for one step (torch CPU build, from this machine's disk).
install-test:
	$(PIP) install -q -c constraints.txt -e ".[test]"

# Debian packages the tests use: a headless browser and poppler (pdftotext/pdftoppm).
system-deps:
	@command -v chromium >/dev/null && command -v pdftotext >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null; }

demo: install
	medval demo

test: install-test system-deps
	$(PYTHON) -m pytest -q -m "not slow" -n 2 --dist loadfile

test-slow: install-test system-deps
	$(PYTHON) -m pytest -q -m slow

bench: install-test
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PYTHON) $$b || exit 1; done

clean:
	rm -rf medval-demo .medval .pytest_cache .hypothesis
