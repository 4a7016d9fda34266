# The Python client (clients/python): its own virtual environment from the pinned
# requirements-test.txt, lint (ruff, mypy --strict), a built wheel installed into that
# environment, then the tests against real servers with $(MODULE).
PYC        := clients/python
PYC_VENV   := $(PYC)/.venv-test
PYC_PY     := $(CURDIR)/$(PYC_VENV)/bin/python
PYC_SERVER  = RL_MODULE=$(MODULE) VALKEY_SERVER=$(VALKEY_SERVER)

CLIENT_TESTS   += test-python-client
CLIENT_BENCHES += bench-python-client
.PHONY: deps-python-client test-python-client bench-python-client

deps-python-client: ## The Python client's test environment (clients/python/.venv-test; skips when up to date)
	@if [ ! -x $(PYC_PY) ] || [ $(PYC)/requirements-test.txt -nt $(PYC_VENV)/.installed ]; then \
	  python3 -m venv $(PYC_VENV) \
	  && $(PYC_PY) -m pip install -q -r $(PYC)/requirements-test.txt && touch $(PYC_VENV)/.installed; \
	fi

test-python-client: deps-python-client ## Lint, build and install the wheel, then test the Python client (about 3 minutes)
	cd $(PYC) && .venv-test/bin/ruff check src tests tests_limits/tests/conftest.py bench ../../examples/python-client ../../examples/python/limiter.py && .venv-test/bin/mypy --strict src/redis_ratelimit
	rm -rf $(PYC)/dist $(PYC)/build && $(PYC_PY) -m pip wheel -q --no-deps --no-build-isolation -w $(PYC)/dist ./$(PYC)
	$(PYC_PY) -m pip install -q --force-reinstall --no-deps $(PYC)/dist/redis_ratelimit-*.whl
	cd $(PYC)/tests && $(PYC_SERVER) $(PYC_PY) -m pytest -q -p no:cacheprovider
	cd $(PYC)/tests_limits && $(PYC_SERVER) $(PYC_PY) -m pytest -q -p no:cacheprovider

bench-python-client: deps-python-client ## limits' own Redis storage against rl+redis://, per strategy; writes '## Client: Python' in docs/benchmarks.md
	$(PYC_PY) -m pip install -q --force-reinstall --no-deps ./$(PYC)
	$(PYC_SERVER) $(PYC_PY) $(PYC)/bench/limits_bench.py --doc docs/benchmarks.md
