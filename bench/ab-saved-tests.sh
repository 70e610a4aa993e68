#!/usr/bin/env bash
# Same-time A/B of benchmark tests from saved release test binaries, run alternately (used for
# bench/RESULTS.md "Session 7: runs"). Build each commit's test binary once, e.g. in a detached
# worktree:  swift test -c release --enable-testable-imports --scratch-path .build-bench \
#            --filter UpstreamLatencyBenchmark      (without LOACL_BENCH=1: builds, runs nothing)
# and copy .build-bench/release/loaclPackageTests.xctest to DIR/LABEL.xctest and that commit's
# migrations/ to DIR/migLABEL/migrations. The tests read migrations from the source tree they were
# built in (#filePath), so LOACL_AB_ROOT must be that tree; its migrations/ is swapped to each
# label's before its run (and left at the last label's).
# Usage: LOACL_AB_ROOT=/path/of/the/build/tree bench/ab-saved-tests.sh DIR "A B A B" [FILTER]
#   FILTER: UpstreamLatencyBenchmark (default; LOACL_BENCH_ROUNDS, default 300) or e.g.
#   RunFollowLatencyBenchmark/postgresWritesPerReply (its cluster gets pg_stat_statements).
# LOACL_BENCH_PG_PORT (default 25335) is the throwaway cluster's port.
set -uo pipefail
DIR="$(cd "$1" && pwd)"; LABELS="$2"; FILTER="${3:-UpstreamLatencyBenchmark}"
ROOT="${LOACL_AB_ROOT:?set LOACL_AB_ROOT to the tree the binaries were built in}"
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
source "$BENCH_DIR/test-cluster.sh"
start_test_cluster bench-ab-postgres 25335 --pg-stat-statements
export LOACL_BENCH_ROUNDS="${LOACL_BENCH_ROUNDS:-300}"
source "$BENCH_DIR/idle-poll.sh"
hold_idle_poll
n=0
for label in $LABELS; do
    n=$((n + 1))
    rm -rf "$ROOT/migrations" && cp -r "$DIR/mig$label/migrations" "$ROOT/migrations"
    echo "### run $n $label start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) ($IDLE_STATE)"
    "$DIR/$label.xctest" --testing-library swift-testing --filter "$FILTER" 2>&1 \
        | grep -E '^BENCH|error:|failed|recorded an issue' | sed 's/^BENCH //'
done
