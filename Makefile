# Gancho: `make run` starts the whole system locally, `make test` runs every test.
# Both install what they need on a fresh machine (Java 17 and Node via apt-get when
# missing, the pinned emulators via npm ci, Go modules from go.sum).

SHELL        := bash
.SHELLFLAGS  := -eu -o pipefail -c
GO           ?= go
# The Go that builds and tests Gancho. 1.26.8's standard library has vulnerabilities
# that Gancho's code reaches (govulncheck); the go command fetches this toolchain
# through the Go module proxy on first use (about 76 MB, once per machine).
export GOTOOLCHAIN := go1.27.3
ARCH         ?= arm64
BUILD_DIR    ?= .build
TOOLS_BIN    := $(CURDIR)/.local/bin/$(GOTOOLCHAIN)
STATICCHECK  := $(TOOLS_BIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK  := $(TOOLS_BIN)/govulncheck
GOVULNCHECK_VERSION := v1.9.0
# The vulnerability database snapshot used when vuln.go.dev cannot be reached, and
# the command (from the same module) that indexes it; see infra/vulncheck.sh.
INDEXDB      := $(TOOLS_BIN)/indexdb
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
# Reachable vulnerabilities of the standard library fail the check (`report` lists
# them as NOT FIXED without failing, for a Go whose fix is not out yet). Module
# vulnerabilities always fail.
VULNCHECK_STDLIB ?= fail
# Fuzzing time per target: `make fuzz` and `make test`.
FUZZTIME     ?= 10s
TEST_FUZZTIME ?= 3s
FUNCTIONS    := $(notdir $(wildcard functions/*))
# Tests run in a private network namespace when the machine allows it, so they can
# reach nothing but loopback.
ISOLATE      := $(shell unshare -n true 2>/dev/null && echo "unshare -n bash -c 'ip link set lo up && exec \"\$$0\" \"\$$@\"'")

.PHONY: help deps run build test test-unit test-fast lint bench soak cost deploy clean

help:
	@echo "make run    - emulators + API on 127.0.0.1:$${PORT:-8080} + delivery worker"
	@echo "make test   - lint, unit and integration tests against the emulators"
	@echo "make test-fast - the shared packages' logic on in-memory doubles, no emulators"
	@echo "make fuzz   - every fuzz target for FUZZTIME each (default $(FUZZTIME))"
	@echo "make build  - every function as bootstrap for Lambda (ARCH=$(ARCH))"
	@echo "make bench  - hot path, cold start and end-to-end benchmarks (updates BENCHMARKS.md)"
	@echo "make soak   - no-loss soak: SOAK_EVENTS events (2,000), two SIGKILLs of Gancho"
	@echo "make cost   - AWS calls, units and \$$ per million deliveries (updates BENCHMARKS.md)"
	@echo "make deploy - sam build + sam deploy (needs the SAM CLI and AWS credentials)"

deps: .local/deps.stamp
.local/deps.stamp: infra/local/install.sh infra/local/package-lock.json infra/openapi/package-lock.json go.sum \
                   infra/portal-e2e/install.sh infra/portal-e2e/package-lock.json
	infra/local/install.sh
	infra/portal-e2e/install.sh
	cd infra/openapi && npm ci --no-audit --no-fund --loglevel=error </dev/null
	$(GO) mod download
	@mkdir -p .local && touch $@

run: deps
	$(GO) run ./infra/cmd/gancho-local

build:
	@mkdir -p $(BUILD_DIR)
	@for fn in $(FUNCTIONS); do \
	  echo "build $$fn ($(ARCH))"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
	    -o $(BUILD_DIR)/$$fn/bootstrap ./functions/$$fn; \
	done

$(STATICCHECK):
	GOBIN=$(TOOLS_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(GOVULNCHECK):
	GOBIN=$(TOOLS_BIN) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)

$(INDEXDB):
	GOBIN=$(TOOLS_BIN) $(GO) install golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION)

lint: $(STATICCHECK) $(GOVULNCHECK) $(INDEXDB)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) mod tidy -diff
	@if command -v cfn-lint >/dev/null; then echo "cfn-lint template.yaml"; cfn-lint template.yaml; \
	  else echo "cfn-lint not installed: template.yaml not linted (pip install cfn-lint)"; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	GO=$(GO) GOVULNCHECK=$(GOVULNCHECK) INDEXDB=$(INDEXDB) VULNDB_VERSION=$(VULNDB_VERSION) \
	  VULNCHECK_STDLIB=$(VULNCHECK_STDLIB) infra/vulncheck.sh

# Unit tests only (no emulators).
test-unit:
	$(GO) test -race -count=1 -short ./...

# The shared packages' logic, the API's included, on the in-memory store and queue:
# seconds, no emulators, nothing to install.
test-fast:
	$(GO) test -race -count=1 -short ./shared/...

test: deps lint
	$(GO) test -race -count=1 -run XXX_compile_only ./... >/dev/null
	GO=$(GO) FUZZTIME=$(TEST_FUZZTIME) $(ISOLATE) infra/fuzz.sh
	$(ISOLATE) $(GO) run ./infra/cmd/withstack -- $(GO) test -race -count=1 ./...
	$(ISOLATE) $(GO) run ./infra/cmd/soak

# Soak: SOAK_EVENTS events (2,000 by default; e.g. SOAK_EVENTS=20000 make soak) fanned
# out to 5 failing receivers while Gancho is killed with SIGKILL twice and restarted;
# fails if any delivery is neither received nor failed in the API (infra/soak).
soak: deps
	$(ISOLATE) $(GO) run ./infra/cmd/soak

# Every fuzz target for FUZZTIME (their seed corpora also run in every `go test`).
.PHONY: fuzz
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) infra/fuzz.sh

# Benchmarks; each writes its section of BENCHMARKS.md and reports figures (nothing
# passes or fails on them; `make test` runs a smoke of each): the consumer's hot path
# next to a bare net/http loop, the size and cold start of every function, and the
# whole local stack end to end (latency at 50 and 200 events/s, the highest rate held
# for 60 s, twice that rate, CPU per event, peak RSS). `make cost` is the AWS bill.
bench: deps
	$(ISOLATE) $(GO) run ./infra/cmd/hotpath -write BENCHMARKS.md
	$(ISOLATE) $(GO) run ./infra/cmd/coldstart -write BENCHMARKS.md
	$(ISOLATE) $(GO) run ./infra/cmd/loadbench -write BENCHMARKS.md

# Calls, read and write units per publish and per delivery counted at the wire, for 1,
# 10 and 1,000 subscriptions per event, in $ per million deliveries next to EventBridge
# API destinations; prints the table and updates the Cost section of BENCHMARKS.md.
cost: deps
	$(ISOLATE) $(GO) run ./infra/cmd/cost -write BENCHMARKS.md

# SAM's Go builder runs `go build` per function; GOFLAGS carries the tag that drops
# the legacy RPC entry point, and SAM sets GOOS/GOARCH from the template.
deploy:
	GOFLAGS=-tags=lambda.norpc sam build
	sam deploy

clean:
	rm -rf $(BUILD_DIR) .local
