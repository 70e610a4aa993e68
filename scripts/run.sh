#!/usr/bin/env bash
# Sets up and runs LOACL locally: system packages → a PostgreSQL cluster under .data/postgres →
# migrations → loacld on tcp:127.0.0.1:7700 and unix:.data/loacld.sock (Ctrl-C stops it
# gracefully). Extra arguments go to `loacld serve` (see `loacld serve --help`).
# Uses the offline model provider unless OPENAI_API_KEY is set.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
bash scripts/local-postgres.sh start
eval "$(bash scripts/local-postgres.sh env)"

# swift build's "[n/m] Compiling ..." lines, on a terminal, as one line that keeps being
# overwritten; every other line (warnings, errors) in full.
progress() {
  if [ -t 1 ]; then
    awk '/^\[[0-9]+\/[0-9]+\] / { printf "\r\033[K%s", substr($0, 1, 100); fflush(); open = 1; next }
         { if (open) { printf "\n"; open = 0 } print; fflush() }
         END { if (open) printf "\n" }'
  else
    cat
  fi
}

# loacld and the loacl CLI, with the Swift standard library and runtime linked into the binaries
# (`--static-swift-stdlib`): they run where no Swift toolchain is installed, and the runtime's
# calls skip the shared library's indirections (9–13 % less server CPU per call or streamed
# message, bench/RESULTS.md, session 14). By product: the test-support targets need the
# toolchain's shared Testing library, which has no static counterpart.
SWIFT_RELEASE=(-c release --static-swift-stdlib)
echo "== building loacld and loacl (release; the first build takes 10 minutes or more, later ones seconds)"
build_status=0
for product in loacld loacl; do
  swift build "${SWIFT_RELEASE[@]}" --product "$product" 2>&1 | progress || build_status=$?
  if [ "$build_status" -ne 0 ]; then echo "run.sh: the build failed (see above)" >&2; exit 1; fi
done
BIN_DIR="$(swift build "${SWIFT_RELEASE[@]}" --show-bin-path)"
BIN="$BIN_DIR/loacld"
echo "== CLI: $BIN_DIR/loacl"

"$BIN" migrate --database-url "$LOACL_MIGRATION_DATABASE_URL" --migrations-dir "$ROOT/migrations"

# Local secrets, made once: the master key that encrypts tenants' API keys at rest, and the HS256
# secret that signs end-user JWTs. Keep .data/ private; back the master key up with the database.
mkdir -p "$ROOT/.data"
umask 077
[ -s "$ROOT/.data/master.key" ] || openssl rand -hex 32 > "$ROOT/.data/master.key"
[ -s "$ROOT/.data/jwt.secret" ] || openssl rand -hex 32 > "$ROOT/.data/jwt.secret"
export LOACL_JWT_SECRET="${LOACL_JWT_SECRET:-$(cat "$ROOT/.data/jwt.secret")}"
# Without an upstream API key the assistants answer with the offline provider.
if [ -z "${OPENAI_API_KEY:-}" ]; then
  export LOACL_UPSTREAM_PROVIDER="${LOACL_UPSTREAM_PROVIDER:-offline}"
  echo "== no OPENAI_API_KEY: assistants use the offline provider"
fi

exec "$BIN" serve \
  --listen tcp:127.0.0.1:${LOACL_PORT:-7700} \
  --listen "unix:$ROOT/.data/loacld.sock" \
  --database-url "$LOACL_DATABASE_URL" \
  --master-key-file "$ROOT/.data/master.key" \
  --storage-dir "$ROOT/.data/files" \
  --metrics-listen 127.0.0.1:${LOACL_METRICS_PORT:-9464} \
  "$@"
