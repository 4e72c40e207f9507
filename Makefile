# mutexredis — see README.md.
GO      ?= go
BIN     := bin/mutexredis
PORT    ?= 6379
DIR     ?= ./data
# The cluster tests drive ioredis, installed globally by .ci/run.
export NODE_PATH ?= $(shell npm root -g 2>/dev/null)

.PHONY: build run test fuzz crash cluster-crash bench bench-cluster bench-load bench-expire bench-go bench-tenants clean

build:
	$(GO) build -o $(BIN) ./cmd/mutexredis

run: build
	./$(BIN) --port $(PORT) --dir $(DIR)

# Everything CI checks: formatting, vet, the race-enabled test suite
# (integration tests build and start the real binary), and short fuzz runs.
test:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) test -race -timeout 15m ./...
	$(MAKE) fuzz

# Each fuzz target runs a number of inputs (about 10 s each here); `make fuzz
# FUZZTIME=10m` runs every target for a duration instead. Counts, not
# durations, by default: Go 1.26's fuzz coordinator can fail a run with
# "context deadline exceeded" when a -fuzztime duration ends while a starved
# worker is mid-input (go.dev/issue/75804), which a loaded CI machine hits.
FUZZTIME ?=
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzMatch$$' -fuzztime $(or $(FUZZTIME),200000x) ./glob/
	$(GO) test -run '^$$' -fuzz '^FuzzCommand$$' -fuzztime $(or $(FUZZTIME),20000x) ./commands/
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(or $(FUZZTIME),20000x) ./server/
	$(GO) test -run '^$$' -fuzz '^FuzzDecoders$$' -fuzztime $(or $(FUZZTIME),20000x) ./scripting/
	$(GO) test -run '^$$' -fuzz '^FuzzZset$$' -fuzztime $(or $(FUZZTIME),20000x) ./commands/

# The long form of the crash test: kill -9 at random moments, CYCLES times,
# checking every acknowledged write and all-or-nothing batches after each
# restart (make test runs 20 cycles).
CYCLES ?= 200
crash:
	MUTEXREDIS_CRASH_CYCLES=$(CYCLES) $(GO) test -race -count=1 -timeout 60m -run '^TestCrashSafety$$' -v ./integration/

# The long form of the cluster crash test: kill -9 the leader of 3 nodes
# under write load CLUSTER_CYCLES times; porcupine checks the history and
# every acknowledged write is checked on every node (make test runs 6).
CLUSTER_CYCLES ?= 100
cluster-crash:
	MUTEXREDIS_CLUSTER_CYCLES=$(CLUSTER_CYCLES) $(GO) test -race -count=1 -timeout 60m -run '^TestClusterKillLeaderCycles$$' -v ./integration/

# Durable SET through the leader of a 3-node cluster vs a single node vs
# redis-server appendfsync always, with server CPU per op.
bench-cluster:
	bash bench/cluster.sh

# Side by side with redis-server (appendfsync always, and no persistence),
# driven by redis-benchmark, with server CPU per op: one keyspace, 16
# keyspaces at once, and a GOMAXPROCS sweep; the tables are saved in
# bench-results/. SECTIONS="single keyspaces sweep" chooses, QUICK=1 is a
# smoke test; see bench/README.md.
bench:
	bash bench/compare.sh

# RSS with 1M keys and time from start to first PONG, ours vs redis-server.
bench-load:
	bash bench/load.sh

# SET with EX vs plain SET, and 1M keys due at the same second, ours vs
# redis-server appendfsync always.
bench-expire:
	bash bench/expire.sh

# Tenants at scale: 1M named keyspaces with one SET each against 1M keys in
# one keyspace, through one pipeline: time per keyspace/key and RSS.
bench-tenants:
	MUTEXREDIS_BENCH_TENANTS=$${TENANTS:-1000000} $(GO) test -count=1 -timeout 2h -v -run '^TestBenchTenants$$' ./integration/

# Go benchmarks: the mutex alone, and the whole RESP → mutex → reply path.
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./mutex/
	$(GO) test -run '^$$' -bench HotPath -benchtime 20000x ./server/

clean:
	rm -rf bin
