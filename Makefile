# mutexredis — see README.md.
GO      ?= go
BIN     := bin/mutexredis
PORT    ?= 6379
DIR     ?= ./data

.PHONY: build run test vet fuzz bench clean

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
	$(MAKE) fuzz FUZZTIME=10s

FUZZTIME ?= 10s
# Each fuzz target runs for FUZZTIME; `make fuzz FUZZTIME=10m` for a long run.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzMatch$$' -fuzztime $(FUZZTIME) ./glob/
	$(GO) test -run '^$$' -fuzz '^FuzzCommand$$' -fuzztime $(FUZZTIME) ./commands/
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./server/

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./mutex/

clean:
	rm -rf bin
