#!/usr/bin/env bash
# Data-services benchmark: stored messages/s through SendMessage (RPC, RLS, triggers) against the
# same INSERTs straight through libpq (two per transaction, and exactly SendMessage's own writes;
# each transaction in one round trip), and p99 of ListMessages / ListThreads on large tables.
# Runs Tests/LOACLServicesTests/DataServicesBenchmark.swift (skipped unless LOACL_BENCH=1) against
# a throwaway PostgreSQL cluster. Usage: bench/data-services.sh   (as root, like scripts/test.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/bench/test-cluster.sh"
start_test_cluster bench-postgres 25331
# Release build (optimized). The package's other test targets use `@testable import`, so the
# release test build needs --enable-testable-imports (`swift build` has no such flag: `swift test`
# builds). LOACL_BENCH_SCRATCH picks the build folder; LOACL_BENCH_EXPLAIN=1 also prints the
# list queries' plans; LOACL_BENCH_WRITES_ONLY=1 stops after the write phases.
# Idle vCPUs poll while measuring, as in bench/run.sh (IDLE_POLL=0: idle states allowed).
source "$ROOT/bench/idle-poll.sh"
hold_idle_poll
echo "idle states: $IDLE_STATE"
SCRATCH="${LOACL_BENCH_SCRATCH:-.build-bench}"
swift test -c release --enable-testable-imports --scratch-path "$SCRATCH" --filter DataServicesBenchmark 2>&1 \
    | grep '^BENCH' | sed -e 's/^BENCH-PLAN /  plan: /' -e 's/^BENCH //'
