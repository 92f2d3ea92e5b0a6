# canary-rollback: `make demo` and `make test` are the two commands a newcomer needs.
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
SCAN_VENV := .venv-scan
BIN := $(VENV)/bin
SCENARIO ?= incident

.PHONY: demo test lint typecheck scan unit integration e2e bench sam-validate build clean

$(VENV)/.installed: requirements-dev.txt functions/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $@

$(SCAN_VENV)/.installed: requirements-scan.txt
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install --quiet -r requirements-scan.txt
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python -m demo --scenario $(SCENARIO)

test: $(VENV)/.installed $(SAM_VENV)/.installed lint typecheck scan sam-validate
	SAM_CLI=$(abspath $(SAM_VENV))/bin/sam $(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed
	$(BIN)/mypy

# Security scan: checkov on both templates (0 failed; findings that do not apply are skipped on the resource,
# with the reason), bandit on the Lambda package (B101 skipped in pyproject.toml, with the reason).
scan: $(SCAN_VENV)/.installed
	$(SCAN_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
		-f template.yaml -f examples/fleet/template.yaml
	$(SCAN_VENV)/bin/bandit -c pyproject.toml -q -r functions/

unit: $(VENV)/.installed
	$(BIN)/python -m pytest -q tests/unit

integration: $(VENV)/.installed
	$(BIN)/python -m pytest -q tests/integration

e2e: $(VENV)/.installed
	$(BIN)/python -m pytest -q tests/e2e

bench: $(VENV)/.installed
	$(BIN)/python scripts/bench_probe.py

sam-validate: $(SAM_VENV)/.installed
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(SAM_VENV)/bin/sam validate --lint --template-file template.yaml
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(SAM_VENV)/bin/sam validate --lint \
		--template-file examples/fleet/template.yaml

# sam build for python3.12 needs a python3.12 on PATH; with pyenv, expose an installed 3.12 next to the default.
PYENV_312 := $(shell command -v pyenv >/dev/null 2>&1 && pyenv versions --bare 2>/dev/null | grep '^3\.12\.' | tail -n 1)
PYENV_PREFIX := $(if $(PYENV_312),PYENV_VERSION=$$(pyenv version-name):$(PYENV_312),)

build: $(SAM_VENV)/.installed
	$(PYENV_PREFIX) SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(SAM_VENV)/bin/sam build

clean:
	rm -rf $(VENV) $(SAM_VENV) $(SCAN_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
