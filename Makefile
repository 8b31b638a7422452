# AIPROD — the two commands that matter: `make run` and `make test`.
GO      ?= go
PKGS    ?= ./...
TIMEOUT ?= 12m

.PHONY: chaos-short run test vet unit bench lint fmt build clean emulators help chaos fuzz chromium

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

run: ## the whole system locally: emulators, simulated backends, ingest, router, worker on :8080
	$(GO) run ./cmd/aiprod dev

emulators: ## only the Pub/Sub and Firestore emulators (prints the env lines to export)
	$(GO) run ./cmd/aiprod emulators

chromium: ## install Chromium for the browser tests when none is found (apt-get; root); AIPROD_CHROME names another
	scripts/chromium.sh

test: vet chromium ## vet, Chromium for the browser tests (installed when missing), then every test with the race detector (what CI runs)
	$(GO) test -race -count=1 -timeout $(TIMEOUT) $(PKGS)

chaos-short: ## the 2,000-job chaos test under the race detector
	$(GO) test -race -count=1 -v -run '^TestChaosShort$$' -timeout 20m ./test/

vet: ## go vet and gofmt check
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

CHAOS_TIMEOUT ?= 60m
chaos: ## the 10,000-job chaos test (issue 4): SIGKILLs, outages, transient errors; prints its summary
	AIPROD_CHAOS=1 $(GO) test -count=1 -v -run '^TestChaos$$' -timeout $(CHAOS_TIMEOUT) ./test/

FUZZTIME ?= 30s
fuzz: ## every fuzz target, one after the other, FUZZTIME (30s) each; prints the total executions, fails on a crasher
	GO="$(GO)" PKGS="$(PKGS)" FUZZTIME="$(FUZZTIME)" scripts/fuzz.sh

unit: ## tests without the race detector, quicker while editing
	$(GO) test -count=1 $(PKGS)

# The packages that have benchmarks (building every test binary of ./... would
# take longer than running them); one at a time, so that no build shares the
# machine with a benchmark. BENCH='Route|PipelineCPU' picks some.
BENCH      ?= .
BENCH_PKGS ?= $(sort $(dir $(shell grep -rl --include='*_test.go' '^func Benchmark' pkg cmd test)))
bench: ## benchmarks (speed and memory targets live here, not in tests; figures in docs/perf.md)
	$(GO) test -p 1 -run '^$$' -bench '$(BENCH)' -benchmem -timeout 20m $(addprefix ./,$(BENCH_PKGS))

lint: vet ## vet plus golangci-lint with the committed config (installed on first use)
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.6.2 run $(PKGS)

build: ## build the service binaries and the CLI into ./bin
	$(GO) build -o bin/ ./cmd/...

clean: ## remove build output
	rm -rf bin
