# Two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   install into .venv, build the offline synthetic store, run a demo-size LOCO benchmark of every model
#   make test   install the test dependencies and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo

.PHONY: demo test clean

$(BIN)/epizoo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of PyTorch, named exactly so that no step pulls CUDA packages.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# The models ship inside epizoo now: drop the separate epizoo-zoo of an older .venv (else twice registered).
	$(BIN)/python -m pip uninstall --quiet --yes epizoo-zoo
	# Every extra (signals, genome, explain): the demo runs every model, the tests cover every layer.
	$(BIN)/python -m pip install --quiet -e ".[all]"
	touch $@

demo: $(BIN)/epizoo
	# The synthetic grammar for one cell line on four contigs (chr1-3, chrX), then a LOCO run of every
	# model at its demo size and one budget for all (docs/results.md), beside a random-split positive
	# control: which models can fit the data, and which of them generalise to unseen chromosomes.
	mkdir -p $(DEMO)
	$(BIN)/epizoo build-store --dataset synthetic --option cell_lines=1 --option n_contigs=4 --option n_pairs=13000 --out $(DEMO)/synthetic.zarr --force
	rm -rf $(DEMO)/run
	$(BIN)/epizoo bench $(DEMO)/synthetic.zarr --models all --split loco --control random --demo --out $(DEMO)/run

test: $(BIN)/epizoo
	$(BIN)/python -m pip install --quiet -e ".[all,test]"
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(DEMO)
