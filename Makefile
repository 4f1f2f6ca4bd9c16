# Two commands for a fresh machine:  `make demo`  and  `make test`.
# Both create ./.venv and install what they need; nothing else is assumed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean crds e2e e2e-install

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m walrus_node.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

# The e2e tier: a real control plane (built once, cached in ~/.cache/walrus-k8s) and the
# kubelet stand-in. Not part of `make test` yet; see docs/e2e.md.
e2e-install:
	bash e2e/controlplane/install.sh

e2e: $(STAMP) e2e-install
	$(BIN)/pytest -q -m e2e e2e

bench: $(STAMP)
	$(BIN)/walrus-bench codec --shards 10 --size 67108864

crds:
	./scripts/sync-crds.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
