# The Go client (clients/go) and its example (examples/go): included by the top-level Makefile.
# Go is the machine's toolchain; modules come from the Go module proxy, locked by go.sum.

CLIENT_TESTS   += test-go
CLIENT_BENCHES += bench-go
GO_CLIENT      := clients/go
GO_EXAMPLE     := examples/go
# go.sum is committed and complete: a build that would change go.mod or go.sum fails.
GO_TEST_ENV    := GOFLAGS=-mod=readonly
GO_BENCH_SECONDS ?= 5
# staticcheck, the Go linter beyond go vet, pinned; installed once into Go's own bin directory.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell go env GOPATH 2>/dev/null)/bin/staticcheck

.PHONY: deps-go-client test-go bench-go

deps-go-client: ## Fetch the Go client's and example's locked modules (a no-op when cached)
	@command -v go >/dev/null || { echo "go not found: install Go 1.26+"; exit 1; }
	@cd $(GO_CLIENT) && $(GO_TEST_ENV) go mod download
	@cd $(GO_EXAMPLE) && $(GO_TEST_ENV) go mod download
	@$(STATICCHECK) -version 2>/dev/null | grep -q '$(STATICCHECK_VERSION:v%=%)' || \
		go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# gofmt, go vet and staticcheck, then every package with -race on Redis 7.0 and Valkey 9 (the package's
# tests start their own servers, a 3x2 cluster and a Sentinel), then redis_rate's own tests
# on Redis and on Valkey, each alone: their 10 ms tolerances between calls (redis_rate's,
# kept as they are) need a machine that is not busy with the other packages' tests.
test-go: deps-go-client
	@test -n "$(VALKEY_SERVER)" || { echo "valkey-server not found (make deps-py)"; exit 1; }
	@out=$$(gofmt -l $(GO_CLIENT) $(GO_EXAMPLE)); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	cd $(GO_CLIENT) && $(GO_TEST_ENV) go vet ./...
	cd $(GO_EXAMPLE) && $(GO_TEST_ENV) go vet ./...
	cd $(GO_CLIENT) && $(GO_TEST_ENV) $(STATICCHECK) ./...
	cd $(GO_EXAMPLE) && $(GO_TEST_ENV) $(STATICCHECK) ./...
	cd $(GO_CLIENT) && $(GO_TEST_ENV) go test -race -count=1 -timeout 5m $$($(GO_TEST_ENV) go list ./... | grep -v '/redisrate$$')
	cd $(GO_CLIENT) && $(GO_TEST_ENV) go test -race -count=1 -timeout 2m ./redisrate/
	cd $(GO_CLIENT) && RL_SERVER=valkey $(GO_TEST_ENV) go test -race -count=1 -timeout 2m ./redisrate/

# Allow through this package and through go-redis/redis_rate on one server, 50 goroutines:
# writes the `## Client: Go` section of docs/benchmarks.md.
bench-go: deps-go-client build
	cd $(GO_CLIENT) && $(GO_TEST_ENV) go run ./internal/bench -seconds $(GO_BENCH_SECONDS) -doc $(CURDIR)/docs/benchmarks.md
