#!/usr/bin/env bash
# Regenerates the C client's protobuf-c code from proto/ (loacl.v1 and the wire messages):
#   gen/loacl/v1/*.pb-c.{c,h}, gen/loacl/wire/v1/wire.pb-c.{c,h}
# usage: clients/c/generate.sh           regenerate in place
#        clients/c/generate.sh DIR       write the gen/ tree into DIR instead (for staleness checks)
#        clients/c/generate.sh --check   exit 1 when the committed code differs from a fresh run
# Needs protoc-c (protobuf-c-compiler 1.4).
set -euo pipefail
export LC_ALL=C
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
GEN="$HERE/gen"

if [ "${1:-}" = "--check" ]; then
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  "$0" "$tmp/gen" >/dev/null
  if ! diff -r "$GEN" "$tmp/gen" >&2; then
    echo "clients/c/generate.sh --check: generated code is stale; run clients/c/generate.sh" >&2
    exit 1
  fi
  echo "clients/c/generate.sh --check: up to date"
  exit 0
fi
OUT="${1:-$GEN}"
command -v protoc-c >/dev/null || { echo "generate.sh: protoc-c not found (apt-get install protobuf-c-compiler)" >&2; exit 1; }

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
cd "$ROOT/proto"
mapfile -t PROTOS < <(find loacl/v1 loacl/wire -name '*.proto' | sort)
protoc-c -I. --c_out="$STAGE" "${PROTOS[@]}"
rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
cp -R "$STAGE" "$OUT"
chmod -R u+rwX,go+rX "$OUT"
echo "clients/c/generate.sh: wrote $OUT from ${#PROTOS[@]} proto file(s)"
