# The pipeline, one target per step a newcomer would guess.
#   make up [STACK=dev]      preflight, then pulumi up (kind cluster, registry, image, workload)
#   make test                lint, type-check and every test suite (no Docker or cluster needed)
STACK ?= dev
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: help venv lint typecheck test test-program test-app render preview up down preflight verify status rollback \
	policy-venv lock kube-score toolchain e2e e2e-faults e2e-kind e2e-clean bench-deploy drift registry-gc mutation

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

# Every virtualenv installs a lock file, hash-checked (`make lock` compiles them from the *.in files).
PIP_INSTALL = -m pip install --quiet --disable-pip-version-check --require-hashes

$(VENV)/.installed: requirements.txt requirements-dev.txt app/requirements.lock app/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) -r requirements-dev.txt
	@# The service itself, editable so that every import sees app/src as it is now; its dependencies and
	@# its build backend (hatchling) came with the lock above.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e ./app
	touch $@

venv: $(VENV)/.installed

CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_INSTALL) -r requirements-checkov.txt
	touch $@

# `pulumi install` run in policy/ installs the same lock into the same place.
POLICY_VENV := policy/.venv
$(POLICY_VENV)/.installed: policy/requirements.txt
	$(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/python $(PIP_INSTALL) -r policy/requirements.txt
	touch $@

policy-venv: $(POLICY_VENV)/.installed

#   make lock                recompile the lock files from the *.in files (LOCK_ARGS=--upgrade to move versions)
# Universal locks: one file for every OS and Python >= 3.11. The service's lock is what its image installs.
LOCK_ARGS ?=
COMPILE = $(BIN)/uv pip compile --quiet --universal --generate-hashes --python-version 3.11 $(LOCK_ARGS)
lock: venv
	$(COMPILE) requirements.in -o requirements.txt
	$(COMPILE) app/pyproject.toml -o app/requirements.lock
	$(COMPILE) policy/requirements.in -o policy/requirements.txt
	$(COMPILE) requirements-checkov.in -o requirements-checkov.txt
	$(COMPILE) requirements-dev.in app/pyproject.toml --extra test -o requirements-dev.txt

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

up: venv policy-venv
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
rollback: venv policy-venv
	$(PY) -m ops.rollback --stack $(STACK) --to $(TO)

#   make drift               one line per resource the live cluster changed behind Pulumi's back (exit 1 on drift)
drift: venv
	$(PY) -m ops.drift --stack $(STACK)

#   make registry-gc         delete images no stack deploys, recently deployed or runs from the local registry
registry-gc: venv
	$(PY) -m ops.registry_gc --stack $(STACK) $(if $(DRY_RUN),--dry-run)

#   make kube-score          kube-score on the dev, staging and prod renders (built from its Go module, cached)
kube-score: venv
	$(PY) -m tools.kube_score

#   make toolchain           build the e2e toolchain from the Go module proxy (cached in ~/.cache/wal-service-e2e)
toolchain:
	bash e2e/toolchain/build.sh

#   make e2e                 the real Pulumi CLI and Kubernetes provider against a real API server (E2E_KEEP=1 keeps it)
#   make e2e ONLY=drift      one group or step of it (FROM=<step>: that step and every later one), after what it needs
e2e: venv policy-venv
	$(PY) -m e2e.run $(if $(ONLY),--only $(ONLY)) $(if $(FROM),--from $(FROM))

#   make e2e-kind            the dev stack from nothing by make up, checked, and make down, on the real Docker (images built here)
e2e-kind: venv policy-venv
	$(PY) -m e2e.kind.run

#   make e2e-faults          Ctrl-C, kill -9, API server down, two ups at once, cluster reset; each then converges
e2e-faults: venv policy-venv
	$(PY) -m e2e.run --only faults

#   make e2e-clean           stop and remove what `E2E_KEEP=1 make e2e` left
e2e-clean: venv
	$(PY) -m e2e.run --clean

#   make mutation [SEED=n]   mutmut on a seeded sample of 150 mutants: killed per folder, each survivor (~35 min)
mutation: venv $(CHECKOV_VENV)/.installed
	$(PY) -m tools.mutation $(if $(SEED),--seed $(SEED))

#   make bench-deploy        time pulumi up/no-op/change/destroy beside kubectl apply + rollout status
bench-deploy: venv
	$(PY) -m e2e.bench_deploy
