# The pipeline, one target per step a newcomer would guess.
#   make up [STACK=dev]      preflight, then pulumi up (kind cluster, registry, image, workload)
#   make test                lint, type-check and every test suite (no Docker or cluster needed)
STACK ?= dev
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: help venv lint typecheck test test-program test-app render preview up down preflight verify status rollback \
	policy-venv toolchain e2e e2e-clean bench-deploy

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements.txt requirements-dev.txt app/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# checkov pins packaging<24, which pulumi cannot live with: it gets a venv of its own.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov>=3.3,<4'
	touch $@

# The CLI installs the dependencies of policy packs it downloads from Pulumi Cloud, never of a local
# pack (--policy-pack policy): its venv is built here.
POLICY_VENV := policy/.venv
$(POLICY_VENV)/.installed: policy/requirements.txt
	$(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(POLICY_VENV)/bin/python -m pip install --quiet -r policy/requirements.txt
	touch $@

policy-venv: $(POLICY_VENV)/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd app && ../$(BIN)/ruff check . && ../$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy
	cd app && ../$(BIN)/mypy

test-program: venv $(CHECKOV_VENV)/.installed
	$(BIN)/pytest

test-app: venv
	cd app && ../$(BIN)/pytest

#   make render STACK=prod   print the stack's Kubernetes objects as YAML (offline, under mocks)
render: venv
	@$(PY) -m tools.render $(STACK)

test: lint typecheck test-program test-app

#   make preflight           check Docker, kind/kubectl/pulumi, free host ports and host name resolution
preflight: venv
	$(PY) -m ops.preflight --stack $(STACK)

up: venv
	$(PY) -m ops.up --stack $(STACK)

#   make down [STACK=dev]    pulumi destroy, then confirm the cluster and registry container are gone
down: venv
	$(PY) -m ops.down --stack $(STACK)

#   make preview             pulumi preview with the guardrails policy pack
preview: venv policy-venv
	$(PY) -m ops.preview --stack $(STACK)

#   make verify              check pods, service, route (Gateway or Ingress), DNS and network in order, with a diagnosis
verify: venv
	$(PY) -m ops.verify --stack $(STACK)

#   make status              stack outputs and a one-screen summary of the namespace
status: venv
	$(PY) -m ops.status --stack $(STACK)

#   make rollback TO=<sha256:... or revision>   redeploy a previous image by digest (no rebuild)
rollback: venv
	$(PY) -m ops.rollback --stack $(STACK) --to $(TO)

#   make toolchain           build the e2e toolchain from the Go module proxy (cached in ~/.cache/wal-service-e2e)
toolchain:
	bash e2e/toolchain/build.sh

#   make e2e                 the real Pulumi CLI and Kubernetes provider against a real API server (E2E_KEEP=1 keeps it)
e2e: venv policy-venv
	$(PY) -m e2e.run

#   make e2e-clean           stop and remove what `E2E_KEEP=1 make e2e` left
e2e-clean: venv
	$(PY) -m e2e.run --clean

#   make bench-deploy        time pulumi up/no-op/change/destroy beside kubectl apply + rollout status
bench-deploy: venv
	$(PY) -m e2e.bench_deploy
