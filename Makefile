# The two commands of the course: `make book` and `make test`. Both create the virtual
# environment on first use and reuse it afterwards (reinstalling only when
# requirements.txt or pyproject.toml changed).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: book test env benchmarks browser jupyter clean help

help:
	@echo "make book        build and execute the whole book into _build/html"
	@echo "make test        run every test (unit, claims, notebooks, grading)"
	@echo "make benchmarks  print speed ratios against the reference libraries, and build times"
	@echo "make jupyter     start Jupyter on http://localhost:8888 (chapters open as notebooks)"
	@echo "make browser     check the built site in headless Chromium (screenshots in _build/screenshots)"

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else f"Python 3.11 is needed (the pinned MXNet and torch wheels), {sys.executable} is {v[0]}.{v[1]}: run make PYTHON=/path/to/python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Chapters missing from the execution cache run JOBS at a time (book/_ext/execute_chapters.py);
# a rebuild executes only the chapters whose code (or course_lib) changed.
book: $(STAMP)
	COURSE_BUILD_JOBS=$(JOBS) $(VENV)/bin/jupyter-book build . --toc book/_toc.yml --config _config.yml --warningiserror --keep-going

# One math thread per test worker (and per notebook kernel it starts): with JOBS workers on
# JOBS cores, torch's and OpenBLAS's own thread pools only fight each other.
test: $(STAMP)
	@bash .ci/system-packages bwrap:bubblewrap chromium:chromium chromedriver:chromium-driver
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n $(JOBS) --dist loadgroup

benchmarks: $(STAMP)
	$(PY) -m pip install --quiet --no-deps -r benchmarks/requirements.txt
	OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/optimizers.py
	OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/hessian.py
	OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/grading_throughput.py
	$(PY) benchmarks/playground_fps.py
	$(PY) benchmarks/build_times.py --jobs $(JOBS)

clean:
	rm -rf _build .pytest_cache

browser: $(STAMP)
	@bash .ci/system-packages chromium:chromium chromedriver:chromium-driver
	$(PY) -m pytest -q -p no:cacheprovider tests/test_live_playground.py
	$(PY) tests/browser_check.py

jupyter: $(STAMP)
	$(VENV)/bin/jupyter notebook --port 8888 --ServerApp.root_dir=$(CURDIR)
