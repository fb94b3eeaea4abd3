# Every target installs what it needs: a fresh machine runs `make run` or `make test` and nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONSTRAINTS := .ci/constraints.txt
RUN_DIR := .run

.PHONY: run test test-controllers lint typecheck unit tools bench e2e-kind manifests chart-readme lock clean

# Installs the pinned versions of .ci/constraints.txt, so every machine tests what CI last passed with.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/pip || $(PYTHON) -m venv --clear $(VENV)  # a venv left without pip is made again
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint $(CONSTRAINTS) -e '.[dev]'
	touch $(STAMP)

## run: start the webhook locally on a fresh self-signed certificate and the sample ServiceAccounts
run: $(STAMP)
	$(BIN)/pod-identity-webhook certs generate --out-dir $(RUN_DIR)/tls --dns localhost --ip 127.0.0.1
	@scripts/print-run-help $(RUN_DIR)/tls/ca.crt
	$(BIN)/pod-identity-webhook serve \
		--tls-cert $(RUN_DIR)/tls/tls.crt --tls-key $(RUN_DIR)/tls/tls.key \
		--service-account-file examples/serviceaccounts.yaml \
		--bind-address 127.0.0.1 --aws-default-region us-west-2 --log-format text

## tools: helm, promtool, kubectl and the chart README generator for the chart, alert and plugin tests;
## shellcheck and a running Docker engine for the script and image tests; wrk and the Go comparator (Debian's Go)
## for the benchmark's smoke test; kube-apiserver and etcd for the real-API-server suite; the kubelet,
## containerd and the pods' AWS SDK for its node (root only)
tools:
	scripts/ensure-kube-apiserver
	scripts/ensure-etcd
	scripts/ensure-kubelet
	scripts/ensure-node-runtime
	PYTHON=$(PYTHON) scripts/ensure-pod-sdk
	scripts/ensure-helm
	scripts/ensure-promtool
	scripts/ensure-kubectl
	scripts/ensure-readme-generator
	scripts/ensure-docker
	scripts/ensure-shellcheck
	scripts/ensure-wrk
	scripts/ensure-go-comparator

lint: $(STAMP)
	$(BIN)/ruff check webhook tests benchmarks
	$(BIN)/ruff format --check webhook tests benchmarks
	$(BIN)/lint-imports --no-logo  # the import contracts of pyproject.toml (docs/architecture.md)

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

## test: every check and every test
test: $(STAMP) tools lint typecheck unit

## test-controllers: the node suite's Deployment and repair scenarios, with kube-scheduler and kube-controller-manager (built
## from Debian's source the first time, about 10 minutes on 2 cores, so not part of `make test`)
test-controllers: $(STAMP) tools
	$(BIN)/pytest -m controllers tests/apiserver/node

## bench: the load benchmark, ours against the Go comparator and the bare app; writes docs/benchmarks.md
## (not part of `make test`)
bench: $(STAMP)
	scripts/ensure-wrk
	scripts/ensure-go-comparator
	$(BIN)/python -m benchmarks.run --write docs/benchmarks.md

## e2e-kind: end-to-end on a real kind cluster (needs Docker, kind, kubectl, openssl and internet access; installs helm)
e2e-kind:
	tests/e2e/kind.sh

## manifests: regenerate deploy/ from the Helm chart
manifests: $(STAMP)
	scripts/render-manifests

## chart-readme: regenerate the chart README's table of values from values.yaml's `## @param` comments
chart-readme:
	scripts/render-chart-readme

## lock: resolve pyproject.toml's ranges afresh into .ci/constraints.txt (then run `make test`)
lock:
	scripts/lock-dependencies

clean:
	rm -rf $(VENV) $(RUN_DIR) .tools .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
