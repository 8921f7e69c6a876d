# Berth's developer and CI entry points. `make test` is what .ci/run runs;
# it vets, lints (make lint) and tests.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

GO ?= go
BIN_DIR ?= bin

# What `make test` runs; narrow it with e.g. `make test PKGS=./conformance/...`.
PKGS ?= ./...
# Those of PKGS run under the race detector: the server, the storage drivers,
# the host agent (its store is shared by goroutines and processes), and the
# conformance/end-to-end tests, which drive the in-process server with real
# clients. The rest of PKGS runs without it.
RACE_PKGS ?= ./registry/... ./storagedriver/... ./hostagent/... ./conformance/...
TEST_TIMEOUT ?= 20m
# CI never reuses cached results: the end-to-end tests depend on tools and a
# Docker daemon that go test's cache does not see.
ifeq ($(CI),true)
TESTFLAGS ?= -count=1
else
TESTFLAGS ?=
endif

# Installs what is missing, then loads the env file hack/tools.sh writes
# (PATH to the pinned tools, BERTH_CONFORMANCE_BIN). The tools live in
# $$BERTH_CI_CACHE, by default ~/.cache/berth-ci, outside the clone.
TOOLS_ENV = env_file="$$(bash hack/tools.sh --env-file)"; . "$$env_file"; \
	echo "test tools: $$env_file" >&2

.PHONY: all tools test vet lint conformance soak gcproof bench build run fuzz

all: build

tools:
	bash hack/tools.sh

# The GC proofs (conformance/crash) at the size make test runs them, to
# keep CI well under its limit: 256 MiB reclaimed and a 15 s storm. make
# gcproof runs them at the issue's size, 1 GiB and 30 s.
RECLAIM_BYTES ?= 268435456
GCSTORM_DURATION ?= 15s

test:
	$(TOOLS_ENV); \
	export BERTH_RECLAIM_BYTES="$${BERTH_RECLAIM_BYTES:-$(RECLAIM_BYTES)}" BERTH_GCSTORM_DURATION="$${BERTH_GCSTORM_DURATION:-$(GCSTORM_DURATION)}"; \
	$(GO) vet $(PKGS); \
	all="$$($(GO) list $(PKGS))"; \
	race="$$($(GO) list $(RACE_PKGS) 2>/dev/null | grep -xF -f <(echo "$$all") || true)"; \
	rest="$$(grep -vxF -f <(echo "$$race") <<<"$$all" || true)"; \
	rc=0; \
	golangci-lint run $(PKGS) || rc=$$?; \
	if [[ -n "$$race" ]]; then \
		$(GO) test -race -timeout $(TEST_TIMEOUT) $(TESTFLAGS) $$race || rc=$$?; \
	fi; \
	if [[ -n "$$rest" ]]; then \
		$(GO) test -timeout $(TEST_TIMEOUT) $(TESTFLAGS) $$rest || rc=$$?; \
	fi; \
	exit $$rc

vet:
	$(GO) vet $(PKGS)

# golangci-lint (the version hack/tools.sh pins) with .golangci.yml: the
# linters and the import rules (depguard) the project agreed on. make test
# runs it too. Its cache is golangci-lint's own, ~/.cache/golangci-lint.
lint:
	$(TOOLS_ENV); \
	golangci-lint run $(PKGS)

# Every fuzz target of PKGS (go test -list '^Fuzz'), one after the other,
# each for FUZZTIME: go test runs one target per -fuzz. A crash leaves its
# input under the package's testdata/fuzz/<target>/ and fails the run
# after the remaining targets have had their turn.
FUZZTIME ?= 60s
# go test spends up to this long shrinking each new interesting input (60s
# by default), during which nothing else runs: with tar layers and archives
# of a few kilobytes that ate whole runs. Crashers are shrunk as long.
FUZZMINIMIZETIME ?= 10s

fuzz:
	targets="$$($(GO) test -list '^Fuzz' $(PKGS) | \
		awk '/^Fuzz/ { t[n++] = $$1 } /^ok / { for (i = 0; i < n; i++) print $$2, t[i]; n = 0 }')"; \
	rc=0; \
	while read -r pkg target; do \
		[[ -n "$$target" ]] || continue; \
		echo "== $$pkg $$target" >&2; \
		$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) "$$pkg" || rc=$$?; \
	done <<<"$$targets"; \
	exit $$rc

# The OCI conformance suite and real-client tests alone, verbosely.
conformance:
	$(TOOLS_ENV); \
	$(GO) test -race -count=1 -v -timeout $(TEST_TIMEOUT) $(TESTFLAGS) ./conformance/...

# The endurance soak (conformance/soak), not part of test or CI: the
# registry binary under SOAK_CLIENTS concurrent clients for SOAK_DURATION,
# sampled every second; it prints where the curve was written.
SOAK_DURATION ?= 5m
SOAK_CLIENTS ?= 64
SOAK_TIMEOUT ?= 60m
soak:
	BERTH_SOAK=1 $(GO) test -count=1 -v -timeout $(SOAK_TIMEOUT) -run '^TestSoak$$' ./conformance/soak/ \
		-args -soak.duration=$(SOAK_DURATION) -soak.clients=$(SOAK_CLIENTS)

# The garbage-collection proofs at full size: 1 GiB over 20 images, 15
# tags deleted, usage back to the live set within 1%; and a 30 s storm of
# 16 clients over two nodes with the collector looping on one.
gcproof:
	$(TOOLS_ENV); \
	BERTH_RECLAIM_BYTES=1073741824 BERTH_GCSTORM_DURATION=30s $(GO) test -race -count=1 -v -timeout 30m \
		-run '^(TestReclaim|TestGCStorm)' ./conformance/crash/

# The benchmark of issue 14 (cmd/regbench, see docs/benchmarks.md):
# Berth against Distribution v3 and an in-memory ceiling, on the filesystem
# at the issue's sizes and on S3 (versitygw) at a quarter of them, 3 runs
# each; designed to take under 15 minutes on 2 cores. Not part of test or CI.
# Pass flags with BENCH_ARGS, e.g.
#   make bench BENCH_ARGS='-storage fs -workloads push,pull -scale 0.1 -json bench.json'
BENCH_ARGS ?=
bench:
	$(TOOLS_ENV); \
	$(GO) run ./cmd/regbench $(BENCH_ARGS)

build:
	$(GO) build -o $(BIN_DIR)/ ./cmd/...

run:
	$(GO) run ./cmd/registry serve $(ARGS)
