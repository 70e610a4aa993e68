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
export LOACL_PG_PORT="${LOACL_TEST_PG_PORT_OVERRIDE:-25329}"
export LOACL_PG_TEST=1
bash scripts/local-postgres.sh start
trap 'bash scripts/local-postgres.sh stop >/dev/null 2>&1 || true' EXIT
eval "$(bash scripts/local-postgres.sh env)"
export LOACL_TEST_PG_HOST="$LOACL_PG_DIR/run"
export LOACL_TEST_PG_PORT="$LOACL_PG_PORT"
export LOACL_TEST_PG_USER=postgres
export LOACL_REPO_ROOT="$ROOT"

echo "== swift build"
# The build's status, not the filter's: a failed build must stop here (not run stale binaries).
build_status=0
swift build --build-tests 2>&1 | { grep -Ev '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Wrapping|Linking|Write|Building)' || true; } \
  || build_status=$?
if [ "$build_status" -ne 0 ]; then echo "tests: FAILED (the build failed, see above)"; exit 1; fi

# Secrets and provider settings for every loacld the tests start (this one, and the Python and
# C clients' servers): a fresh master key per run, and the offline provider (no network here).
export LOACL_MASTER_KEY="$(openssl rand -hex 32)"
export LOACL_JWT_SECRET="$(openssl rand -hex 32)"
export LOACL_UPSTREAM_PROVIDER=offline
export LOACL_OFFLINE_WORD_DELAY_MS=0

# A live loacld on the migrated `loacl` database, for the CLI's end-to-end test.
BIN="$ROOT/.build/debug"
"$BIN/loacld" migrate --database-url "$LOACL_MIGRATION_DATABASE_URL" --migrations-dir "$ROOT/migrations" >/dev/null
LIVE_PORT="${LOACL_TEST_LIVE_PORT:-25371}"
"$BIN/loacld" serve --listen "tcp:127.0.0.1:$LIVE_PORT" --database-url "$LOACL_DATABASE_URL" \
  --storage-dir "$ROOT/.data/test-files" --log-level warning > "$ROOT/.data/live-loacld.log" 2>&1 &
LIVE_PID=$!
trap 'kill $LIVE_PID 2>/dev/null || true; bash scripts/local-postgres.sh stop >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$LIVE_PORT") 2>/dev/null && break
  sleep 0.1
done
export LOACL_CLI_TEST_SERVER="tcp:127.0.0.1:$LIVE_PORT"
export LOACL_CLI_TEST_API_KEY="sk-test-$(openssl rand -hex 12)"
export LOACL_CLI_BINARY="$BIN/loacl"

# TLS material for the TLS tests, made once before they start (made inside the test process,
# every test waiting for it would hold a thread of the cooperative pool all tests share).
export LOACL_TEST_CERTS_DIR="$ROOT/.data/test-certs"
rm -rf "$LOACL_TEST_CERTS_DIR"
bash scripts/gen-test-certs.sh "$LOACL_TEST_CERTS_DIR" >/dev/null

status=0
echo "== swift test"
swift test --skip-build "$@" 2>&1 | tee .data/swift-test.log || status=$?

if [ -x clients/test.sh ] && [ $# -eq 0 ]; then
  echo "== client tests"
  LOACLD="$ROOT/.build/debug/loacld" bash clients/test.sh || status=$?
fi

# Fuzz smoke (docs/FUZZING.md): builds the libFuzzer targets (FuzzTesting/, ASan) and runs each
# from its seed corpus for a few seconds; a crash fails the run. Skipped with --filter and with
# LOACL_SKIP_FUZZ=1 (for local runs; CI runs it). LOACL_FUZZ_SMOKE_SECONDS sets the time per target.
if [ "${LOACL_SKIP_FUZZ:-0}" != 1 ] && [ $# -eq 0 ]; then
  echo "== fuzz smoke"
  bash scripts/fuzz.sh all "${LOACL_FUZZ_SMOKE_SECONDS:-5}" || status=$?
fi

# One closing line CI can read: totals from Swift Testing (and the client runners' own lines above).
passed=$(grep -Eo 'Test run with [0-9]+ tests? (in [0-9]+ suites? )?passed' .data/swift-test.log | grep -Eo '[0-9]+' | head -1 || true)
failed=$(grep -Eo 'Test run with [0-9]+ tests? (in [0-9]+ suites? )?failed' .data/swift-test.log | head -1 || true)
if [ -n "$failed" ] || [ "$status" -ne 0 ]; then
  echo "tests: FAILED (see above)"
  exit 1
fi
echo "swift: ${passed:-0} passed, 0 failed"
