#!/usr/bin/env bash
# Data-services benchmark: stored messages/s through SendMessage (RPC, RLS, triggers) against the
# same INSERTs straight through libpq (two per transaction, and exactly SendMessage's own writes;
# each transaction in one round trip), and p99 of ListMessages / ListThreads on large tables.
# Runs Tests/LOACLServicesTests/DataServicesBenchmark.swift (skipped unless LOACL_BENCH=1) against
# a throwaway PostgreSQL cluster. Usage: bench/data-services.sh   (as root, like scripts/test.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export LOACL_PG_DIR="$ROOT/.data/bench-postgres" LOACL_PG_PORT="${LOACL_BENCH_PG_PORT:-54331}" LOACL_PG_TEST=1
bash scripts/local-postgres.sh start
trap 'bash scripts/local-postgres.sh stop >/dev/null 2>&1 || true' EXIT
export LOACL_TEST_PG_HOST="$LOACL_PG_DIR/run" LOACL_TEST_PG_PORT="$LOACL_PG_PORT" LOACL_TEST_PG_USER=postgres LOACL_BENCH=1
# Release build (optimized). The package's other test targets use `@testable import`, so the
# release test build needs --enable-testable-imports (`swift build` has no such flag: `swift test`
# builds). LOACL_BENCH_SCRATCH picks the build folder; LOACL_BENCH_EXPLAIN=1 also prints the
# list queries' plans; LOACL_BENCH_WRITES_ONLY=1 stops after the write phases.
# Like bench/run.sh, hold /dev/cpu_dma_latency at 0 while measuring (released when the script
# exits) so idle vCPUs poll instead of halting: on this KVM guest a halted vCPU takes ~60 µs to
# wake, and a call through LOACL crosses more threads than a direct one. IDLE_POLL=0 measures
# with idle states allowed.
if [ "${IDLE_POLL:-1}" = 1 ]; then
    if { exec {QOS_FD}>/dev/cpu_dma_latency && printf '\x00\x00\x00\x00' >&"$QOS_FD"; } 2>/dev/null; then
        echo "idle states: cpu_dma_latency=0"
    else
        echo "idle states: allowed (cannot hold /dev/cpu_dma_latency; not root?)"
    fi
else
    echo "idle states: allowed (IDLE_POLL=0)"
fi
SCRATCH="${LOACL_BENCH_SCRATCH:-.build-bench}"
swift test -c release --enable-testable-imports --scratch-path "$SCRATCH" --filter DataServicesBenchmark 2>&1 \
    | grep '^BENCH' | sed -e 's/^BENCH-PLAN /  plan: /' -e 's/^BENCH //'
