# The TypeScript/Node client (clients/node): built, linted and tested against the packed tarball.
NODE_DIR := clients/node

CLIENT_TESTS   += test-node
CLIENT_BENCHES += bench-node
.PHONY: deps-node-client deps-node-bench build-node-client test-node bench-node

# npm ci of the package's dev tools, of the tests' peer libraries and of examples/node (whose
# app.mjs uses the package through a file: link), each when its lock changed.
deps-node-client:
	@command -v npm >/dev/null || { sudo=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
		$$sudo apt-get install -y -q --no-install-recommends nodejs npm; }
	@for d in $(NODE_DIR) $(NODE_DIR)/test examples/node; do \
	  [ $$d/node_modules/.package-lock.json -nt $$d/package-lock.json ] || \
	    (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; done

build-node-client: deps-node-client
	cd $(NODE_DIR) && npm run --silent lint && npm run --silent build

test-node: deps-node-client build-node-client
	@test -n "$(VALKEY_SERVER)" || { echo "valkey-server not found (make deps-py)"; exit 1; }
	cd $(NODE_DIR) && RL_MODULE=$(MODULE) VALKEY_SERVER=$(VALKEY_SERVER) scripts/test-packed.sh

# The HTTP benchmark's load generator and peer limiters (bench/package-lock.json): only bench-node needs them.
deps-node-bench: deps-node-client
	@[ $(NODE_DIR)/bench/node_modules/.package-lock.json -nt $(NODE_DIR)/bench/package-lock.json ] || \
	  (cd $(NODE_DIR)/bench && npm ci --no-audit --no-fund --loglevel=error)

bench-node: deps-node-bench build-node-client
	cd $(NODE_DIR) && RL_MODULE=$(MODULE) VALKEY_SERVER=$(VALKEY_SERVER) node bench/bench.mjs --doc $(CURDIR)/docs/benchmarks.md
