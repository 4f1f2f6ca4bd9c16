# Two commands for a fresh machine:  `make demo`  and  `make test`.
# Both create ./.venv and install what they need; nothing else is assumed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Tools (kubectl, helm) are linked into the venv's bin by `make tools`; tests find them here.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo demo-kind test lint typecheck unit bench clean crds e2e e2e-kind kind-tier images tools venv browser

# The codec's native extension (native/, Rust): built into a wheel by scripts/native-wheel.sh,
# or taken from ~/.cache/walrus-native when these exact sources were built before.
NATIVE_SRC := $(wildcard native/src/*.rs) native/Cargo.toml native/Cargo.lock \
	native/pyproject.toml native/walrus_native.pyi

$(STAMP): pyproject.toml constraints.txt $(NATIVE_SRC)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	wheel="$$(bash scripts/native-wheel.sh $(abspath $(BIN))/python)" && \
	$(BIN)/pip install --quiet --force-reinstall --no-deps "$$wheel" && \
	$(BIN)/pip install --quiet -c constraints.txt --find-links "$$(dirname "$$wheel")" \
		-e '.[node,operator,dev]'
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

# Unit and integration tests on $(TEST_WORKERS) pytest-xdist workers (`--dist loadgroup`:
# tests marked `xdist_group` share one worker, one after another), then the tests marked
# `alone` (they measure a node's or the client's memory, which a busy neighbour skews) in
# this process, one at a time. TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
unit: $(STAMP) tools browser
ifeq ($(TEST_WORKERS),0)
	$(BIN)/pytest -q -p no:xdist
else
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not alone"
	$(BIN)/pytest -q -p no:xdist -m alone
endif

# Headless Chromium and chromedriver for the gateway page's browser test, and ISA-L for the
# codec benchmark's baseline (`walrus-bench codec --baseline isal`, and its tests): Debian
# packages, installed with apt when absent. Neither is a dependency of the product.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
		|| ! ldconfig -p | grep -q 'libisal\.so\.2'; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends chromium chromium-driver libisal2; \
	fi

# Everything: static checks, unit and integration tests (real node processes), the e2e
# tier on a real Kubernetes control plane, then the short kind tier (the scenarios only a
# real cluster shows, and a store and read; `make e2e-kind` runs all) where a Docker
# daemon answers (.ci/run starts one and sets WALRUS_E2E_KIND=required, so that a missing
# daemon fails CI instead of skipping the tier).
#
# scripts/test-phases.sh runs the phases in this order, builds what the kind tier needs
# (e2e/kind/prepare.sh) in the background beside them, and prints each phase's wall time.
test: $(STAMP)
	bash scripts/test-phases.sh lint typecheck unit e2e kind-tier

kind-tier: $(STAMP) tools
	@if docker info >/dev/null 2>&1; then \
		WALRUS_E2E_KIND_SCOPE=short bash e2e/kind/run.sh test; \
	elif [ "$${WALRUS_E2E_KIND:-}" = required ]; then \
		echo "make test: WALRUS_E2E_KIND=required but no Docker daemon answers" >&2; exit 1; \
	else \
		echo "make test: no Docker daemon answers; the kind tier (make e2e-kind) is skipped" >&2; \
	fi

# kube-apiserver, kube-controller-manager, kubectl, helm and etcd: built from pinned
# sources once, cached in ~/.cache/walrus-k8s (docs/e2e.md); kubectl and helm are linked
# into the venv so every test finds them.
tools: $(STAMP)
	bash e2e/controlplane/install.sh > $(VENV)/tools.txt
	awk '$$1 == "kubectl" || $$1 == "helm" { print $$2, $$1 }' $(VENV)/tools.txt | \
		while read -r path name; do ln -sf "$$path" "$(BIN)/$$name"; done

e2e: $(STAMP) tools
	$(BIN)/pytest -q -m e2e e2e

# walrus-node:<appVersion> and walrus-operator:<appVersion>, built here from a debootstrap
# Debian base and wheels made on the host, with no network in the build (docs/images.md).
images: $(STAMP)
	bash docker/build.sh

# The scenario suite on a kind cluster with the real images and the Helm chart. Needs a
# Docker daemon and root (or password-less sudo) for a route to the pod network.
e2e-kind: $(STAMP) tools
	bash e2e/kind/run.sh test

# The real thing on kind: cluster, images, chart, samples, a blob stored and read with the
# walrus CLI, `kubectl get walrusnetworks,walrusnodes` (docs/e2e.md).
demo-kind: $(STAMP) tools
	bash e2e/kind/run.sh demo

bench: $(STAMP)
	$(BIN)/walrus-bench codec --shards 10 --size 67108864

crds:
	./scripts/sync-crds.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
