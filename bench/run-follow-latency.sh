#!/usr/bin/env bash
# Runs benchmark (issue 15): two servers A and B on one database in one process, the fake OpenAI
# upstream paced like a model. Runs Tests/LOACLServicesTests/RunFollowLatencyBenchmark.swift
# (skipped unless LOACL_BENCH=1) against a throwaway PostgreSQL cluster that preloads
# pg_stat_statements:
# - follow: per delta, (B's StreamRun caller got it) − (A's provider got it from the upstream),
#   for deltas generated after B asked; A's own SendMessage caller beside it;
# - writes: statements (pg_stat_statements), transactions given an xid, and loacl.run_events rows
#   for one reply streaming ~2 s, without and with a follower on B.
# - cancel: CancelRun → the upstream request's connection closes, run here and elsewhere.
# Usage: bench/run-follow-latency.sh [--debug] [follow|writes|cancel]      (as root, like scripts/test.sh)
# LOACL_BENCH_FOLLOW_RUNS (5), LOACL_BENCH_FOLLOW_DELTAS (300), LOACL_BENCH_FOLLOW_GAP_MS (20),
# LOACL_BENCH_FOLLOW_JOIN (5: B starts after A's caller got that many deltas),
# LOACL_BENCH_WRITES_DELTAS (100); LOACL_BENCH_SCRATCH the build folder, LOACL_BENCH_PG_PORT the
# cluster's port.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONFIG=release
[ "${1:-}" = "--debug" ] && { CONFIG=debug; shift; }
FILTER=RunFollowLatencyBenchmark
case "${1:-}" in
    follow) FILTER="RunFollowLatencyBenchmark/aFollowerOnTheOtherServer" ;;
    writes) FILTER="RunFollowLatencyBenchmark/postgresWritesPerReply" ;;
    cancel) FILTER="RunFollowLatencyBenchmark/cancelReachesTheUpstreamQuickly" ;;
esac
source "$ROOT/bench/test-cluster.sh"
start_test_cluster bench-runs-postgres 25333 --pg-stat-statements
source "$ROOT/bench/idle-poll.sh"
hold_idle_poll
echo "idle states: $IDLE_STATE; $(uptime)"
SCRATCH="${LOACL_BENCH_SCRATCH:-.build-bench}"
swift test -c "$CONFIG" --enable-testable-imports --scratch-path "$SCRATCH" --filter "$FILTER" 2>&1 \
    | grep -E '^BENCH|error:|failed|recorded an issue' | sed 's/^BENCH //'
