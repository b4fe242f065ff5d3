# Two commands from a clean clone: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU wheel of torch lies on disk on the project machines; GPU users install their own
# torch build into .venv first (see README), and this pin is then skipped.
TORCH  ?= torch==2.13.0

.PHONY: setup run test test-slow test-all figures docs bench gpu-checks gpu-checks-cpu lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# The main job: every claim of the paper checked by theory and experiment at the quick scale (README, opening);
# prints the table of verdicts and the path of the report. A rerun reuses the finished experiments.
run: setup
	$(BIN)/stablesam verify --quick --out runs/verify

test: setup
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: setup
	$(BIN)/python -m pytest -m slow -q || test $$? -eq 5  # 5: no slow test collected

figures: setup
	$(BIN)/stablesam figures --out figures

# The API reference (docs/_build/html/index.html): Sphinx with warnings as errors, as CI builds it.
docs: setup
	$(BIN)/pip install -q -e ".[docs]"
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

# Every CPU benchmark, then one table of all ratios against their goals (tens of minutes on 2 shared cores).
bench: setup
	$(BIN)/python benchmarks/run_all.py

# The prepared GPU session (scripts/gpu_checks.sh); without a GPU, or with gpu-checks-cpu, its CPU half (~1 min).
gpu-checks: setup
	PYTHON=$(BIN)/python bash scripts/gpu_checks.sh

gpu-checks-cpu: setup
	CPU_ONLY=1 PYTHON=$(BIN)/python bash scripts/gpu_checks.sh

# JupyterLab on LAB_IP:LAB_PORT; the URL it prints carries the token. Root (containers) needs --allow-root.
LAB_IP   ?= 127.0.0.1
LAB_PORT ?= 8888
lab: setup
	$(BIN)/pip install -q -e ".[dev,lab]"
	$(BIN)/jupyter lab notebooks/ --no-browser --ip=$(LAB_IP) --port=$(LAB_PORT) \
	  $$(test "$$(id -u)" -eq 0 && echo --allow-root)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache docs/_build docs/api
