# probmoll: `make demo` runs the main job, `make test` the test suite.
# Both create .venv and install probmoll with its dev extras first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench docs clean data

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch/torchvision first, with the releases this machine keeps on disk when
	# there are any; elsewhere pip picks the newest compatible release.
	$(PY) -m pip install --quiet "torch>=2.4,<=2.14.1" "torchvision>=0.19,<=0.29.1"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

data:
	@bash scripts/fetch_fashion_mnist.sh

# The main job: mollification figures, then Fashion-MNIST trained with and without
# mollification, both evaluated on generated corruptions; prints the comparison table.
demo: $(STAMP) data
	$(PY) -m probmoll demo --download --out runs/demo
	$(PY) -m probmoll sweep experiments/grids/main.yaml
	@echo "figures: runs/demo/; off vs on per severity: runs/main/severity.png; per-run metrics.json, report.md and plots: runs/main/*/"

test: $(STAMP) data
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check probmoll tests benchmarks experiments paper_appendix docs
	$(VENV)/bin/ruff format --check probmoll tests benchmarks experiments paper_appendix docs

# Speed measurements (see benchmarks/README.md); each prints its ratios and exits.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# The user documentation, built strictly (broken links and missing pages fail).
docs: $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache
