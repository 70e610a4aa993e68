#!/usr/bin/env bash
# Chat-pipeline benchmark (issue 6): time-to-first-delta and delta throughput of one fake OpenAI
# upstream (Responses API wire format, 20 deltas, no delay), called directly through the provider
# and through LOACL's SendMessage, in one run. Runs Tests/LOACLServicesTests/UpstreamLatencyBenchmark.swift
# (skipped unless LOACL_BENCH=1) against a throwaway PostgreSQL cluster.
# Usage: bench/upstream-latency.sh [--debug]      (as root, like scripts/test.sh)
# LOACL_BENCH_ROUNDS (default 200) sets calls per side; LOACL_BENCH_SCRATCH the build folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONFIG=release
[ "${1:-}" = "--debug" ] && CONFIG=debug
export LOACL_PG_DIR="$ROOT/.data/bench-upstream-postgres" LOACL_PG_PORT="${LOACL_BENCH_PG_PORT:-54332}" LOACL_PG_TEST=1
bash scripts/local-postgres.sh start
trap 'bash scripts/local-postgres.sh stop >/dev/null 2>&1 || true' EXIT
export LOACL_TEST_PG_HOST="$LOACL_PG_DIR/run" LOACL_TEST_PG_PORT="$LOACL_PG_PORT" LOACL_TEST_PG_USER=postgres LOACL_BENCH=1
# The test targets use `@testable import`, so an optimized test build needs
# --enable-testable-imports (as in bench/data-services.sh, whose build folder it shares).
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
swift test -c "$CONFIG" --enable-testable-imports --scratch-path "$SCRATCH" --filter UpstreamLatencyBenchmark 2>&1 \
    | grep '^BENCH' | sed 's/^BENCH //'
