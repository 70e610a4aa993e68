#!/usr/bin/env bash
# Builds the C client, runs its fake-server unit tests and its examples against a live loacld
# (TCP, Unix socket, mutual TLS), each under valgrind (--leak-check=full --error-exitcode=1).
# env: LOACLD (server binary, required), LOACL_DATABASE_URL (passed to loacld when set).
# Ends with "N passed, N failed, N skipped"; exit 1 when anything failed.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
: "${LOACLD:?set LOACLD to the loacld binary}"
VALGRIND=(valgrind --leak-check=full --error-exitcode=1 -q)
PASS=0 FAIL=0 SKIP=0
ok()   { PASS=$((PASS + 1)); echo "ok   $*"; }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
skip() { SKIP=$((SKIP + 1)); echo "skip $*"; }

make -s -C "$HERE" all || { echo "0 passed, 1 failed"; exit 1; }
B="$HERE/build"

WORK="$(mktemp -d /tmp/loacl-c-XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # port log
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "loacld did not start:"; cat "$2"; return 1
}

bash "$ROOT/scripts/gen-test-certs.sh" "$WORK/certs" >/dev/null
TCP_PORT="$(free_port)"; TLS_PORT="$(free_port)"
DB_ARGS=()
[ -n "${LOACL_DATABASE_URL:-}" ] && DB_ARGS=(--database-url "$LOACL_DATABASE_URL")
"$LOACLD" --listen "tcp:127.0.0.1:$TCP_PORT" --listen "unix:$WORK/s.sock" "${DB_ARGS[@]}" >"$WORK/main.log" 2>&1 &
PIDS+=($!)
"$LOACLD" --listen "tls:127.0.0.1:$TLS_PORT" --tls-cert "$WORK/certs/server.pem" --tls-key "$WORK/certs/server.key" \
  --tls-client-ca "$WORK/certs/ca.pem" --tls-client-auth required >"$WORK/tls.log" 2>&1 &
PIDS+=($!)
wait_port "$TCP_PORT" "$WORK/main.log" && wait_port "$TLS_PORT" "$WORK/tls.log" || { echo "0 passed, 1 failed"; exit 1; }
MTLS=(--ca "$WORK/certs/ca.pem" --cert "$WORK/certs/client.pem" --key "$WORK/certs/client.key")

# 1. Unit tests against scripted fake servers.
if "${VALGRIND[@]}" "$B/fake-server-test" >"$WORK/unit.out" 2>&1; then ok "fake-server-test: $(tail -1 "$WORK/unit.out")"
else bad "fake-server-test"; cat "$WORK/unit.out"; fi

# 2. Echo example over each transport, under valgrind.
echo_case() { # name target args...
  local name="$1" target="$2"; shift 2
  if "${VALGRIND[@]}" "$B/loacl-echo-example" "$@" "$target" "hello $name" >"$WORK/out" 2>"$WORK/err" \
     && grep -qx "echo: hello $name" "$WORK/out" && grep -q "^health: SERVING" "$WORK/out" && grep -qx "ping: ok" "$WORK/out"; then
    ok "echo over $name"
  else
    bad "echo over $name"; cat "$WORK/out" "$WORK/err"
  fi
}
echo_case tcp "tcp:127.0.0.1:$TCP_PORT"
echo_case unix "unix:$WORK/s.sock"
echo_case mtls "tls:127.0.0.1:$TLS_PORT" "${MTLS[@]}"
echo_case mtls-sni "tls:127.0.0.1:$TLS_PORT" "${MTLS[@]}" --server-name localhost

# 3. Status codes: an unknown method, a server that does not trust us, a CA that does not trust it.
expect_error() { # name pattern target args...
  local name="$1" pattern="$2" target="$3"; shift 3
  "${VALGRIND[@]}" "$B/loacl-echo-example" "$@" "$target" x >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  if [ "$rc" -eq 2 ] && grep -q "$pattern" "$WORK/err"; then ok "$name"; else bad "$name (rc $rc)"; cat "$WORK/out" "$WORK/err"; fi
}
expect_error "unknown method is UNIMPLEMENTED" "UNIMPLEMENTED" "tcp:127.0.0.1:$TCP_PORT" --method /loacl.v1.GhostService/Haunt
expect_error "mTLS without client certificate fails" "error:" "tls:127.0.0.1:$TLS_PORT" --ca "$WORK/certs/ca.pem"
expect_error "untrusted server certificate fails" "certificate verify failed" "tls:127.0.0.1:$TLS_PORT" \
  --ca "$WORK/certs/other-ca.pem" --cert "$WORK/certs/client.pem" --key "$WORK/certs/client.key"

# 4. The chat example: guest session, message, streamed reply (needs the data services).
"${VALGRIND[@]}" "$B/loacl-chat-example" --api-key "sk-loacl-c-test-$$-$RANDOM" "tcp:127.0.0.1:$TCP_PORT" \
  "Hello from the C example" >"$WORK/out" 2>"$WORK/err"
rc=$?
if grep -q "UNIMPLEMENTED" "$WORK/err"; then
  skip "chat example: loacld answers UNIMPLEMENTED ($(grep -o '/loacl[^:]*' "$WORK/err" | head -1)): data services not in the server yet"
elif [ "$rc" -eq 0 ] && [ -s "$WORK/out" ] && grep -q "^you: Hello from the C example" "$WORK/err" && grep -q "^reply stored:" "$WORK/err"; then
  ok "chat example streamed: $(head -1 "$WORK/out" | cut -c1-60)"
  # 5. The runs example replays that (ended) run from the start, checking its sequence numbers.
  RUN_ID="$(sed -n 's/^run: //p' "$WORK/err" | head -1)"; TOKEN="$(sed -n 's/^token: //p' "$WORK/err" | head -1)"
  if "${VALGRIND[@]}" "$B/loacl-runs-example" --token "$TOKEN" follow "$RUN_ID" "tcp:127.0.0.1:$TCP_PORT" >"$WORK/rout" 2>"$WORK/rerr" \
     && grep -q "^run $RUN_ID: COMPLETED" "$WORK/rout"; then
    ok "runs example replayed run $RUN_ID: $(tail -1 "$WORK/rout")"
  else
    bad "runs example"; cat "$WORK/rout" "$WORK/rerr"
  fi
else
  bad "chat example (rc $rc)"; cat "$WORK/out" "$WORK/err"
  [ -z "${LOACL_DATABASE_URL:-}" ] && echo "(LOACL_DATABASE_URL is not set: the data services need a database)"
fi

echo "$PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" -eq 0 ]
