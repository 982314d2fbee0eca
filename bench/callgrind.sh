#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# bench/callgrind.sh [ROW...]: user-space instructions per message (callgrind's Ir divided
# by messages) of echo server rows, ping-pong 100 connections x 64 B. Exact where wall-clock
# rates on a shared machine are not; the kernel's share (most of a loopback echo's cost) is
# not counted. ROWs are bench/rows.sh's names; default:
#   epoll-floor rasio-edge rasio-oneshot uring-floor rasio-uring-oneshot rasio-net rasio-net-uring
#
# Method: one server runs under valgrind --tool=callgrind. Its counters are zeroed, the load
# generator runs exactly N messages (bench-loadgen --messages), the counters are dumped; then
# the same with 2N. Both runs pay the same fixed costs (100 accepts and closes, the ramp), so
#   Ir/msg = (Ir of the 2N run - Ir of the N run) / N
# is what one more message costs. A server that batches completions (io_uring) spreads its
# per-iteration cost over however many messages one wait returned, which depends on timing,
# so its figure varies between runs (uring-floor: 218-331 here) where the others repeat to
# the instruction. The zeroing and dumps go through callgrind_control (vgdb),
# which reaches a server blocked in a system call: valgrind keeps signals blocked inside
# io_uring_enter, so a SIGTERM alone would not stop a uring server here.
#
# A row whose server exits 77 at start (io_uring or rasio's uring backend unavailable) is
# reported as skipped with the server's message; a row that cannot run under valgrind (its
# server dies, or the load generator fails against it) says why, from the server's and
# valgrind's own messages. Exit status 1 if any row failed, 0 otherwise (skips included).
#
# Environment: BENCH_BUILD (default: build-bench next to bench/); CALLGRIND_MESSAGES (N,
# default 20000); CALLGRIND_CONNS (100), CALLGRIND_SIZE (64).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
# shellcheck source-path=SCRIPTDIR source=rows.sh
source "$here/rows.sh"

build=${BENCH_BUILD:-$root/build-bench}
bin=$build/bench
msgs=${CALLGRIND_MESSAGES:-20000}
conns=${CALLGRIND_CONNS:-100}
size=${CALLGRIND_SIZE:-64}
rows=${*:-epoll-floor rasio-edge rasio-oneshot uring-floor rasio-uring-oneshot rasio-net \
rasio-net-uring}

for t in valgrind:valgrind callgrind_control:valgrind taskset:util-linux timeout:coreutils; do
  command -v "${t%%:*}" >/dev/null ||
    { echo "callgrind: cannot run, missing ${t%%:*}: apt-get install ${t#*:}" >&2; exit 1; }
done
[[ -x $bin/bench-loadgen ]] ||
  { echo "callgrind: no $bin/bench-loadgen: build it (make bench, or cmake -DRASIO_BENCH=ON)" >&2
    exit 1; }
for r in $rows; do
  [[ -n ${SERVER[$r]:-} ]] || { echo "callgrind: unknown row $r; known: $ALL_SERVERS" >&2; exit 2; }
done

if (($(nproc) >= 2)); then PIN_SERVER=(taskset -c 0) PIN_GEN=(taskset -c 1); else
  PIN_SERVER=() PIN_GEN=(); fi

tmp=$(mktemp -d /tmp/rasio-callgrind.XXXXXX)
SRV_PID=""
cleanup() {
  [[ -n $SRV_PID ]] && kill -KILL "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

alive() { kill -0 "$1" 2>/dev/null; }

# The last line of the server's stderr and valgrind's own complaints, for a row that failed.
why() {
  local vg
  vg=$(grep -v '^==[0-9]*== *$' "$tmp/vg.log" 2>/dev/null |
    grep -i -E 'unhandled|unsupported|not implemented|unrecognised|warning|error|killed' |
    head -n 2 | sed 's/^==[0-9]*== //' | tr '\n' ' ') || true
  echo "$(tail -n 1 "$tmp/server.err" 2>/dev/null)${vg:+ [valgrind: $vg]}"
}

# Runs callgrind_control with $1 (-z or -d) on the server; true if it answered.
control() { timeout 60 callgrind_control "$1" "$SRV_PID" >"$tmp/control.out" 2>&1; }

# The Ir total of the newest dump file: callgrind numbers them cg.out.1, cg.out.2 (start
# removes the previous row's), so the glob's last is the newest.
last_dump_ir() {
  local f="" g
  for g in "$tmp"/cg.out.*; do [[ -e $g ]] && f=$g; done
  [[ -n $f ]] && awk '/^totals:/ { print $2; exit }' "$f"
}

# Zeroes the counters, runs $1 messages, lets the server settle, dumps; prints the Ir.
measure() {
  control -z || { echo "callgrind_control -z: $(tail -n 1 "$tmp/control.out")" >"$tmp/err"; return 1; }
  if ! timeout 300 "${PIN_GEN[@]}" "$bin/bench-loadgen" --port "$SRV_PORT" --workload pingpong \
    --conns "$conns" --size "$size" --seconds 280 --warmup 0 --messages "$1" \
    >"$tmp/loadgen.out" 2>"$tmp/loadgen.err"; then
    echo "loadgen: $(tail -n 1 "$tmp/loadgen.err"); server: $(why)" >"$tmp/err"
    return 1
  fi
  sleep 0.5 # the server's handling of the closes belongs to this run
  alive "$SRV_PID" || { echo "server died: $(why)" >"$tmp/err"; return 1; }
  control -d || { echo "callgrind_control -d: $(tail -n 1 "$tmp/control.out")" >"$tmp/err"; return 1; }
  last_dump_ir
}

# Starts row $1 under callgrind; 0 when listening, 2 when skipped, 1 on failure ($tmp/err).
start() {
  local prog mode_arg rc=0 i
  read -r prog mode_arg <<<"${SERVER[$1]}"
  local args=(--port 0) envs=()
  [[ $mode_arg != - ]] && args+=(--mode "$mode_arg")
  [[ -n ${SERVER_ENV[$1]:-} ]] && read -ra envs <<<"env ${SERVER_ENV[$1]}"
  [[ -x $bin/bench-$prog ]] || { echo "no $bin/bench-$prog (not built)" >"$tmp/err"; return 1; }
  rm -f "$tmp"/cg.out* "$tmp/vg.log"
  : >"$tmp/server.out"
  : >"$tmp/server.err"
  "${envs[@]}" "${PIN_SERVER[@]}" valgrind --tool=callgrind --log-file="$tmp/vg.log" \
    --callgrind-out-file="$tmp/cg.out" "$bin/bench-$prog" "${args[@]}" \
    >"$tmp/server.out" 2>"$tmp/server.err" &
  SRV_PID=$!
  for ((i = 0; i < 300; i++)); do
    grep -q '^listening ' "$tmp/server.out" && break
    alive "$SRV_PID" || break
    sleep 0.1
  done
  if ! grep -q '^listening ' "$tmp/server.out"; then
    if alive "$SRV_PID"; then
      kill -KILL "$SRV_PID"
      wait "$SRV_PID" 2>/dev/null || true
      echo "did not start under valgrind within 30 s: $(why)" >"$tmp/err"
    else
      wait "$SRV_PID" || rc=$?
      echo "exited at start (status $rc): $(why)" >"$tmp/err"
    fi
    SRV_PID=""
    ((rc == 77)) && has_skip "$1" && { tail -n 1 "$tmp/server.err" >"$tmp/err"; return 2; }
    return 1
  fi
  SRV_PORT=$(awk '/^listening /{print $2}' "$tmp/server.out")
  SRV_BACKEND=$(awk '/^backend /{print $2 "/" $3}' "$tmp/server.out")
}

has_skip() { [[ " $UNAVAILABLE_OK " == *" $1 "* ]]; }

stop() {
  [[ -z $SRV_PID ]] && return
  kill -TERM "$SRV_PID" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do alive "$SRV_PID" || break; sleep 0.1; done
  kill -KILL "$SRV_PID" 2>/dev/null || true # blocked in io_uring_enter: see the top
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=""
}

failed=0 floor_ir=""
out=() # one line per row, printed at the end, when the floor's figure is known
for r in $rows; do
  rc=0
  start "$r" || rc=$?
  if ((rc == 2)); then
    out+=("$(printf '%-20s %-16s %s' "$r" SKIP "$(cat "$tmp/err")")")
    continue
  elif ((rc != 0)); then
    out+=("$(printf '%-20s %-16s %s' "$r" FAIL "cannot run under valgrind: $(cat "$tmp/err")")")
    failed=$((failed + 1))
    continue
  fi
  if ir1=$(measure "$msgs") && ir2=$(measure $((2 * msgs))) && [[ -n $ir1 && -n $ir2 ]]; then
    per=$(awk -v a="$ir1" -v b="$ir2" -v n="$msgs" 'BEGIN { printf "%.1f", (b - a) / n }')
    [[ $r == "$FLOOR" ]] && floor_ir=$per
    out+=("$(printf '%-20s %-16s %9s @VS@%s@  %s %s' "$r" "$SRV_BACKEND" "$per" "$per" "$ir1" \
      "$ir2")")
  else
    [[ -s $tmp/err ]] || echo "no dump was written: $(why)" >"$tmp/err"
    out+=("$(printf '%-20s %-16s %s' "$r" FAIL "cannot run under valgrind: $(cat "$tmp/err")")")
    failed=$((failed + 1))
  fi
  stop
done

echo "callgrind: pingpong $conns x $size B; Ir/msg = (Ir($((2 * msgs)) msgs) - Ir($msgs msgs))" \
  "/ $msgs; user space only; vs_floor = / $FLOOR's"
printf '%-20s %-16s %9s %8s  %s\n' row backend Ir/msg vs_floor "Ir(N) Ir(2N)"
for line in "${out[@]}"; do
  if [[ $line == *@VS@* ]]; then
    rest=${line#*@VS@} # "<Ir/msg>@  <Ir(N)> <Ir(2N)>"
    vs=$(awk -v a="${rest%%@*}" -v b="$floor_ir" \
      'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }')
    line="${line%%@VS@*}$(printf '%8s' "$vs")${rest#*@}"
  fi
  echo "$line"
done
((failed == 0)) || { echo "callgrind: $failed row(s) failed" >&2; exit 1; }
