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

echo "== building loacld (release)"
swift build -c release --product loacld 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\] ' || true
test "${PIPESTATUS[0]}" -eq 0
BIN="$(swift build -c release --show-bin-path)/loacld"

"$BIN" migrate --database-url "$LOACL_MIGRATION_DATABASE_URL" --migrations-dir "$ROOT/migrations"
mkdir -p "$ROOT/.data"
exec "$BIN" serve \
  --listen tcp:127.0.0.1:${LOACL_PORT:-7700} \
  --listen "unix:$ROOT/.data/loacld.sock" \
  --database-url "$LOACL_DATABASE_URL" \
  "$@"
