#!/usr/bin/env bash
# Builds LOACL's libFuzzer targets (FuzzTesting/, with -sanitize=fuzzer,address) and runs one.
#   scripts/fuzz.sh --list              the targets
#   scripts/fuzz.sh TARGET SECONDS      run TARGET for SECONDS (0: no time limit)
#   scripts/fuzz.sh TARGET -runs=N      run TARGET for N executions (any libFuzzer flags)
#   scripts/fuzz.sh all SECONDS         every target in turn
#   scripts/fuzz.sh --build             only build
# Starts from the committed seed corpus (FuzzTesting/Corpus/TARGET), copied to a scratch corpus
# (.data/fuzz/corpus/TARGET) that libFuzzer grows. Prints libFuzzer's executions and coverage
# (cov:/ft: lines, and a `fuzz:` summary line per target). A crash stops with exit status 1; its
# input is saved under .data/fuzz/crashes/TARGET/ (replay: the binary with that file as argument).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SCRATCH="$ROOT/.build-fuzz"
BIN="$SCRATCH/release"
WORK="$ROOT/.data/fuzz"

targets() {
  find "$ROOT/FuzzTesting/Sources" -mindepth 1 -maxdepth 1 -type d -name 'Fuzz*' -not -name FuzzSupport -printf '%f\n' | sort
}

build() {
  echo "== building the fuzz targets (release, -sanitize=fuzzer,address)" >&2
  local started=$SECONDS status=0
  swift build --package-path FuzzTesting --scratch-path "$SCRATCH" -c release \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing 2>&1 \
    | { grep -Ev '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Wrapping|Linking|Write|Building)' || true; } >&2 || status=$?
  if [ "$status" -ne 0 ]; then echo "fuzz: the build failed, see above" >&2; exit 1; fi
  echo "== fuzz build took $((SECONDS - started)) s" >&2
}

run() {
  local target=$1; shift
  [ -x "$BIN/$target" ] || { echo "fuzz: no target $target (scripts/fuzz.sh --list)" >&2; exit 2; }
  local corpus="$WORK/corpus/$target" dictionary crashes="$WORK/crashes/$target" log="$WORK/logs/$target.log"
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  if [ -d "FuzzTesting/Corpus/$target" ]; then cp -n FuzzTesting/Corpus/"$target"/* "$corpus"/ 2>/dev/null || true; fi
  local args=()
  # Tokens libFuzzer splices in (FuzzTesting/Dictionaries): JSON edge cases for every JSON reader.
  case "$target" in
    FuzzChatCompletionsStream|FuzzResponsesStream) dictionary=openai ;;
    FuzzJWT|FuzzJWKS) dictionary=jose ;;
    FuzzMetadataJSON|FuzzServiceValidation) dictionary=json ;;
    *) dictionary= ;;
  esac
  if [ -n "$dictionary" ]; then
    cat FuzzTesting/Dictionaries/json.dict > "$WORK/$target.dict"
    [ "$dictionary" = json ] || cat "FuzzTesting/Dictionaries/$dictionary.dict" >> "$WORK/$target.dict"
    args+=("-dict=$WORK/$target.dict")
  fi
  case "${1:-}" in
    ''|*[!0-9]*) args+=("$@") ;;
    *) args+=("-max_total_time=$1"); shift; args+=("$@") ;;
  esac
  echo "== $target ${args[*]}" >&2
  # FuzzTLSHandshake's server certificate and key.
  if [ ! -f "$WORK/tls/server-chain.pem" ]; then bash scripts/gen-test-certs.sh "$WORK/tls" >/dev/null; fi
  export LOACL_FUZZ_TLS_DIR="$WORK/tls"
  # A trap goes to libFuzzer's own handler (the Swift backtracer reading memory trips ASan).
  export SWIFT_BACKTRACE=enable=no
  local status=0 started=$SECONDS
  # -print_final_stats: the executions and coverage this run reached, at the end of the log.
  "$BIN/$target" "$corpus" -artifact_prefix="$crashes/" -print_final_stats=1 -max_len=4096 -timeout=10 \
    -rss_limit_mb=4096 "${args[@]}" > "$log" 2>&1 || status=$?
  grep -E '^#[0-9]+ +(INITED|DONE)|^#[0-9]+.*pulse' "$log" | tail -2 >&2 || true
  local execs cov ft
  execs=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo "?")
  ft=$(grep -Eo 'ft: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo "?")
  echo "fuzz: $target executions=$execs seconds=$((SECONDS - started)) cov=$cov ft=$ft corpus=$(ls "$corpus" | wc -l) status=$status"
  if [ "$status" -ne 0 ]; then
    grep -E 'ERROR|Fatal error|fuzz property|SUMMARY|Test unit written' "$log" | head -20 >&2 || true
    echo "fuzz: $target FAILED (log: $log; inputs: $crashes)" >&2
    return 1
  fi
}

case "${1:-}" in
  ''|-h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  --list) targets; exit 0 ;;
  --build) build; exit 0 ;;
esac
[ $# -ge 2 ] || { echo "usage: scripts/fuzz.sh TARGET|all SECONDS|-runs=N [libFuzzer flags]" >&2; exit 2; }
build
if [ "$1" = all ]; then
  shift
  failed=0
  for target in $(targets); do run "$target" "$@" || failed=1; done
  exit $failed
fi
run "$@"
