# Two commands on a fresh machine:  make demo  (install + the main job)  and  make test  (install + all tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# the CPU build of torch that lies on this machine's disk, when there is one (saves a multi-GB download)
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
PIP := $(BIN)/pip install -q --disable-pip-version-check $(FIND_LINKS) -c constraints.txt
STAMP := $(VENV)/.installed

.PHONY: demo test lint browser bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip setuptools wheel
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev,ray]"  # ray: the sweep tests run its backend (for users it is the optional extra reverie[ray])
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/reverie bench sutton-barto --out benchmarks/results/sutton-barto

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# the browser tests (tests/test_report_browser.py) need Debian's chromium and chromium-driver: installed here where
# apt-get can (as root); elsewhere those tests skip and say why
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "chromium or chromedriver missing: the browser tests will skip"

test: lint browser
	OMP_NUM_THREADS=1 MKL_CBWR=AUTO,STRICT $(BIN)/python -m pytest

bench: demo

clean:
	rm -rf $(VENV) runs bench-results .pytest_cache
