#!/usr/bin/env bash
# Chat-pipeline benchmark (issue 6): time-to-first-delta and delta throughput of one fake OpenAI
# upstream (Responses API wire format, 20 deltas), called directly through the provider and
# through LOACL's SendMessage, in alternating rounds of one run: once with a stress upstream (the
# whole reply at once), once with a model-like one (first delta after LOACL_BENCH_TTFT_MS, default
# 20, then one event every LOACL_BENCH_GAP_MS, default 1). Runs Tests/LOACLServicesTests/UpstreamLatencyBenchmark.swift
# (skipped unless LOACL_BENCH=1) against a throwaway PostgreSQL cluster.
# Usage: bench/upstream-latency.sh [--debug]      (as root, like scripts/test.sh)
# LOACL_BENCH_ROUNDS (default 500) sets calls per side; LOACL_BENCH_SCRATCH the build folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONFIG=release
[ "${1:-}" = "--debug" ] && CONFIG=debug
source "$ROOT/bench/test-cluster.sh"
start_test_cluster bench-upstream-postgres 25332
# The test targets use `@testable import`, so an optimized test build needs
# --enable-testable-imports (as in bench/data-services.sh, whose build folder it shares).
# Idle vCPUs poll while measuring, as in bench/run.sh (IDLE_POLL=0: idle states allowed).
source "$ROOT/bench/idle-poll.sh"
hold_idle_poll
echo "idle states: $IDLE_STATE"
SCRATCH="${LOACL_BENCH_SCRATCH:-.build-bench}"
swift test -c "$CONFIG" --enable-testable-imports --scratch-path "$SCRATCH" --filter UpstreamLatencyBenchmark 2>&1 \
    | grep '^BENCH' | sed 's/^BENCH //'
