#!/usr/bin/env bash
# Sets up and runs every LOACL test on this machine:
#   system packages → throwaway PostgreSQL cluster → generated-code check → swift test →
#   client tests (Python, C) against a live loacld.
# Usage: scripts/test.sh [extra `swift test` arguments, e.g. --filter Wire]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh

# A private PostgreSQL 15 cluster for this test run (fsync off), on its own port and folder.
export LOACL_PG_DIR="$ROOT/.data/test-postgres"
export LOACL_PG_PORT="${LOACL_TEST_PG_PORT_OVERRIDE:-54329}"
export LOACL_PG_TEST=1
bash scripts/local-postgres.sh start
trap 'bash scripts/local-postgres.sh stop >/dev/null 2>&1 || true' EXIT
eval "$(bash scripts/local-postgres.sh env)"
export LOACL_TEST_PG_HOST="$LOACL_PG_DIR/run"
export LOACL_TEST_PG_PORT="$LOACL_PG_PORT"
export LOACL_TEST_PG_USER=postgres
export LOACL_REPO_ROOT="$ROOT"

echo "== swift build"
swift build --build-tests 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Wrapping|Linking|Write|Building)' || true
test "${PIPESTATUS[0]}" -eq 0

status=0
echo "== swift test"
swift test --skip-build "$@" 2>&1 | tee .data/swift-test.log || status=$?

if [ -x clients/test.sh ] && [ $# -eq 0 ]; then
  echo "== client tests"
  LOACLD="$ROOT/.build/debug/loacld" bash clients/test.sh || status=$?
fi

# One closing line CI can read: totals from Swift Testing (and the client runners' own lines above).
passed=$(grep -Eo 'Test run with [0-9]+ tests? (in [0-9]+ suites? )?passed' .data/swift-test.log | grep -Eo '[0-9]+' | head -1 || true)
failed=$(grep -Eo 'Test run with [0-9]+ tests? (in [0-9]+ suites? )?failed' .data/swift-test.log | head -1 || true)
if [ -n "$failed" ] || [ "$status" -ne 0 ]; then
  echo "tests: FAILED (see above)"
  exit 1
fi
echo "swift: ${passed:-0} passed, 0 failed"
