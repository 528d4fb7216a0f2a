# ahacc — the targets people expect. `make run` and `make test` are the two commands.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
WORKFLOWCHECK ?= go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0
BENCHTIME   ?= 2s
COMPOSE     ?= docker compose -f docker/compose.yaml --env-file docker/.env
PKGS        := ./...
# A failing command on the left of a pipe (go test … | tee) fails the target.
SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: run test test-short test-e2e test-cluster soak fuzz bench bench-cluster lint build build-temporal docker-build docker-up docker-down clean

## run: the whole stack on one machine (embedded Temporal + UI, Redis, simulators, worker, starter)
run:
	$(GO) run ./internal/devstack/cmd/ahacc-dev

## test: every test, then a few seconds of each fuzz target (see FUZZTIME)
test:
	$(GO) test -count=1 -timeout 25m $(PKGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=3s

## test-short: unit tests only (skips the end-to-end tests that start Temporal)
test-short:
	$(GO) test -count=1 -short $(PKGS)

## test-cluster: ahacc as deployed — Temporal's frontend, history, matching and worker
## services as separate processes (built from the pinned module) on fresh PostgreSQL
## databases, two starter and two worker processes behind a load balancer — running the
## burst (with processes killed and PostgreSQL stopped), macros with status rules, the
## 1,000-person user-data backfill and the invariant harness's fixed seeds. Needs
## PostgreSQL (PGHOST 127.0.0.1:5432, user postgres) and Redis.
CLUSTER_TESTS ?= ^(TestCluster.*|TestInvariants|TestMacrosWillFixPushesOneIdeaPerItem|TestFromAhaStatusSetsCentercodeWithoutEcho|TestUserDataBackfill1000)$$
test-cluster: build-temporal
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./worker ./starter   # make build's worker and starter
	AHACC_TEST_CLUSTER=1 AHACC_BIN_DIR=$(CURDIR)/bin $(GO) test -count=1 -timeout 15m -run '^TestCluster' -v ./internal/cluster/
	AHACC_TEST_CLUSTER=1 AHACC_BIN_DIR=$(CURDIR)/bin AHACC_SEEDS=2 $(GO) test -count=1 -timeout 15m -run '$(CLUSTER_TESTS)' -v ./internal/e2e/ > .cluster-test.log 2>&1; \
	  rc=$$?; grep -E '^(---|\s+---|ok|FAIL|panic)|cluster_test.go:|burst summary|Error:|Messages:' .cluster-test.log; \
	  echo "full log: .cluster-test.log"; exit $$rc

## test-e2e: the browser test against the dev stack's Web UI (needs Debian's chromium; CHROMIUM_PATH overrides)
test-e2e:
	$(GO) test -count=1 -tags browser -run 'TestUI' -v ./internal/e2e/

## soak: the invariant harness (internal/e2e TestInvariants) over SOAK_SEEDS
## seeds — the fixed ones, then fresh ones; each failure prints its seed,
## faults and trace (replay one: AHACC_SEED=<seed> go test -run TestInvariants ./internal/e2e/)
SOAK_SEEDS ?= 200
soak:
	AHACC_SEEDS=$(SOAK_SEEDS) $(GO) test -count=1 -timeout 900m -run '^TestInvariants$$' -v ./internal/e2e/ > .soak.log 2>&1; \
	  rc=$$?; grep -E '^\s+--- (PASS|FAIL)|invariant harness:' .soak.log; exit $$rc

FUZZTIME ?= 3s
## fuzz: run each fuzz target for FUZZTIME
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -hoE '^func Fuzz[A-Za-z0-9_]+' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## bench: Go benchmarks, the load tool, then the end-to-end benchmarks (macro
## rate budget across two worker processes, 10,000-user backfill, what each synced
## change costs in Temporal actions and history); figures go to BENCHMARKS.md.
## BENCH_MACROS, BENCH_BACKFILL and BENCH_COST_PEOPLE scale the last three.
BENCH_MACROS ?= 1000
BENCH_BACKFILL ?= 10000
BENCH_COST_PEOPLE ?= 2000
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS) | tee .bench-go.txt
	$(GO) run ./internal/bench/cmd/ahacc-bench | tee .bench-load.txt
	$(GO) run ./internal/bench/cmd/ahacc-bench -only fiber-noop,webhook-duplicate -c 8 | tee -a .bench-load.txt
	AHACC_BENCH_MACROS=$(BENCH_MACROS) $(GO) test -count=1 -timeout 60m -run '^TestMacroRateBudgetBench$$' -v ./internal/e2e/ | grep -E 'BENCH|^(---|ok|FAIL)' | tee .bench-macros.txt
	AHACC_BENCH_BACKFILL=$(BENCH_BACKFILL) $(GO) test -count=1 -timeout 60m -run '^TestUserDataBackfillBench$$' -v ./internal/e2e/ | grep -E 'BENCH|^(---|ok|FAIL)' | tee .bench-backfill.txt
	AHACC_COST_PEOPLE=$(BENCH_COST_PEOPLE) $(GO) test -count=1 -timeout 60m -run '^TestCostPerChange$$' -v ./internal/e2e/ | grep -E 'BENCH|^ +\||^(---|ok|FAIL)' | tee .bench-cost.txt

## bench-cluster: fresh-webhook throughput and new-idea → feedback latency on the embedded
## SQLite stack and on Temporal as deployed (internal/cluster on PostgreSQL) with 4 and
## 16 history shards and with 2 workers, each against its own raw SignalWithStart ceiling,
## with CPU seconds per process (what binds); figures go to BENCHMARKS.md
BENCH_CLUSTER_ONLY ?= temporal-signal-with-start,webhook-fresh,e2e-latency-10rps
bench-cluster: build-temporal
	$(GO) run ./internal/bench/cmd/ahacc-bench -only $(BENCH_CLUSTER_ONLY) | tee .bench-cluster.txt
	$(GO) run ./internal/bench/cmd/ahacc-bench -only $(BENCH_CLUSTER_ONLY) -cluster -shards 4 | tee -a .bench-cluster.txt
	$(GO) run ./internal/bench/cmd/ahacc-bench -only $(BENCH_CLUSTER_ONLY) -cluster -shards 16 | tee -a .bench-cluster.txt
	$(GO) run ./internal/bench/cmd/ahacc-bench -only $(BENCH_CLUSTER_ONLY) -cluster -shards 4 -workers 2 | tee -a .bench-cluster.txt

## lint: go vet + staticcheck + workflowcheck (no non-deterministic call reachable from a workflow)
lint:
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	$(GO) run $(WORKFLOWCHECK) $(PKGS)

## build: static binaries into bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./worker ./starter ./internal/devstack/cmd/ahacc-dev

## build-temporal: the Temporal server and its SQL schema tool, from the module go.mod pins
## (go.mod's tool directives), into bin/temporal-server and bin/temporal-sql-tool
build-temporal:
	$(GO) build -o bin/temporal-server go.temporal.io/server/cmd/server
	$(GO) build -o bin/temporal-sql-tool go.temporal.io/server/cmd/tools/sql

docker-build:
	$(COMPOSE) build

docker-up:
	$(COMPOSE) up -d

docker-down:
	$(COMPOSE) down

clean:
	rm -rf bin .data .bench-*.txt .soak.log .cluster-test.log
