#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# bench/run.sh [quick|full]: runs every echo server against bench-loadgen, plus the timer and
# wakeup programs, and writes the results to bench/results/ (anchors.md 4.2 is the plan).
#
#   quick  one run per row, short warm-up and window: the whole thing in a few minutes
#   full   BENCH_RUNS (5) runs per row of BENCH_SECONDS (10) after BENCH_WARMUP (3) seconds;
#          the summary shows the median and the spread (min-max)
#
# Environment:
#   BENCH_BUILD      the build directory (default: build-bench next to bench/)
#   BENCH_SERVERS    server rows to run, by name (default: all, ALL_SERVERS below)
#   BENCH_WORKLOADS  workloads to run, by name (default: all, ALL_WORKLOADS below)
#   BENCH_RUNS, BENCH_SECONDS, BENCH_WARMUP   runs per row, measured and warm-up seconds
#   BENCH_STRACE_SECONDS  length of the separate syscall-counting run (default 1)
#   BENCH_STRACE_WORKLOADS  ping-pong workloads the syscall-counting run covers (default
#                    pp1-64 pp100-64 pp100-16k; pp100-64 is the one the targets use)
#   RASIO_REQUIRE    comma-separated backends (as make check reads it): naming uring makes
#                    a uring row whose backend cannot run here a failure instead of a skip
#   BENCH_RESULTS    where results go (default: bench/results)
#
# Files written, all named <UTC date-time>-<quick|full>:
#   .csv           one row per run; '#' lines first say what ran where
#   -syscalls.csv  per server, every syscall of its strace run and its count per message
#   .txt / .md     the summary and targets as printed / as markdown for docs/benchmarks.md
#   .png           ping-pong messages/s per server and workload (bench/plot.gp)
#
# A row fails, loudly, if the loadgen reports an error (a wrong echo included) or the server
# dies, will not start or will not stop; the other rows still run, and the exit status is 1.
# A uring row (UNAVAILABLE_OK below) whose server exits 77 at start, because io_uring or
# rasio's uring backend cannot run here, is skipped instead: SKIP and the server's own
# message on stderr, status SKIP in the CSV, and the report shows the reason.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

mode=${1:-quick}
case $mode in
  quick) runs=${BENCH_RUNS:-1} seconds=${BENCH_SECONDS:-1} warmup=${BENCH_WARMUP:-0.5} ;;
  full) runs=${BENCH_RUNS:-5} seconds=${BENCH_SECONDS:-10} warmup=${BENCH_WARMUP:-3} ;;
  *) usage ;;
esac
build=${BENCH_BUILD:-$root/build-bench}
bin=$build/bench
results=${BENCH_RESULTS:-$here/results}
strace_seconds=${BENCH_STRACE_SECONDS:-1}

# --- what runs -------------------------------------------------------------------------------

# The server rows (SERVER, SERVER_ENV, ALL_SERVERS, UNAVAILABLE_OK, and the roles PEERS,
# RASIO_INLINE, FLOOR, URING_FLOOR): bench/rows.sh, shared with bench/callgrind.sh.
# shellcheck source-path=SCRIPTDIR source=rows.sh
source "$here/rows.sh"

# Echo workloads: name -> "loadgen workload, connections, bytes, idle connections".
declare -A WORKLOAD=(
  [pp1-64]="pingpong 1 64 0" [pp100-64]="pingpong 100 64 0" [pp1000-64]="pingpong 1000 64 0"
  [pp1-16k]="pingpong 1 16384 0" [pp100-16k]="pingpong 100 16384 0"
  [pp1000-16k]="pingpong 1000 16384 0"
  [pump10-64k]="pump 10 65536 0" [churn50-64]="churn 50 64 0"
  [idle10k-pp100-64]="pingpong 100 64 10000"
)
# timers and wakeup run the rasio and libuv programs of that name; syscalls is the strace run,
# once per server and strace workload (BENCH_STRACE_WORKLOADS).
ALL_WORKLOADS="pp1-64 pp100-64 pp1000-64 pp1-16k pp100-16k pp1000-16k pump10-64k churn50-64 \
idle10k-pp100-64 timers wakeup syscalls"
TIMER_COUNT=1000000

# The words of $1, one space apart.
words() {
  local w out=""
  for w in $1; do out+="${out:+ }$w"; done
  echo "$out"
}
servers=$(words "${BENCH_SERVERS:-$ALL_SERVERS}")
workloads=$(words "${BENCH_WORKLOADS:-$ALL_WORKLOADS}")
strace_workloads=$(words "${BENCH_STRACE_WORKLOADS:-pp1-64 pp100-64 pp100-16k}")
uring_required=0
[[ ,${RASIO_REQUIRE:-}, == *,uring,* ]] && uring_required=1

# --- checks: refuse to run rather than print a table with holes ------------------------------

has_word() { [[ " $1 " == *" $2 "* ]]; }

# The Debian package (or the build step) that provides bench program $1.
provider() {
  case $1 in
    *_uv) echo "libuv1-dev, then rebuild (make bench)" ;;
    *_event) echo "libevent-dev, then rebuild (make bench)" ;;
    *_ev) echo "libev-dev, then rebuild (make bench)" ;;
    *_uring) echo "liburing-dev, then rebuild (make bench)" ;;
    *) echo "nothing to install: build it (make bench, or cmake -DRASIO_BENCH=ON)" ;;
  esac
}

check_setup() {
  local missing="" s w p prog
  for s in $servers; do
    has_word "$ALL_SERVERS" "$s" ||
      { echo "unknown server row $s; known: $ALL_SERVERS" >&2; exit 2; }
  done
  for w in $workloads; do
    has_word "$ALL_WORKLOADS" "$w" ||
      { echo "unknown workload $w; known: $ALL_WORKLOADS" >&2; exit 2; }
  done
  for w in $strace_workloads; do
    [[ ${WORKLOAD[$w]:-} == pingpong\ *\ 0 ]] ||
      { echo "BENCH_STRACE_WORKLOADS: $w is not a ping-pong workload without idle" \
        "connections" >&2; exit 2; }
  done
  local progs="loadgen"
  for s in $servers; do progs+=" ${SERVER[$s]%% *}"; done
  has_word "$workloads" timers && progs+=" timers_rasio timers_uv"
  has_word "$workloads" wakeup && progs+=" wakeup_rasio wakeup_uv"
  for prog in $(tr ' ' '\n' <<<"$progs" | sort -u); do
    [[ -x $bin/bench-$prog ]] || missing+="  $bin/bench-$prog: $(provider "$prog")"$'\n'
  done
  for p in taskset:util-linux timeout:coreutils strace:strace gnuplot:gnuplot-nox awk:mawk; do
    command -v "${p%%:*}" >/dev/null || missing+="  ${p%%:*}: apt-get install ${p#*:}"$'\n'
  done
  if [[ -n $missing ]]; then
    printf 'bench: cannot run, missing:\n%s' "$missing" >&2
    exit 1
  fi
}

# --- pinning: the server on CPU 0 and the load generator on CPU 1 -----------------------------

if (($(nproc) >= 2)); then
  PIN_SERVER=(taskset -c 0) PIN_GEN=(taskset -c 1) pinning="server=cpu0 loadgen=cpu1"
else
  PIN_SERVER=() PIN_GEN=() pinning="none (1 cpu)"
fi

# --- server lifecycle ------------------------------------------------------------------------

tmp=$(mktemp -d /tmp/rasio-bench.XXXXXX)
SRV_PID="" STRACE_PID=""

cleanup() {
  [[ -n $STRACE_PID ]] && kill -KILL "$STRACE_PID" 2>/dev/null
  [[ -n $SRV_PID ]] && kill -KILL "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Whether process $1 is still running (not gone, not a zombie waiting to be reaped).
# Builtins only, like the other helpers polled below: forks are slow on a loaded machine.
alive() {
  local stat
  { read -r stat </proc/"$1"/stat; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ $stat != Z* ]]
}
dead() { ! alive "$1"; }

# Polls command "$@" every 10 ms until it succeeds (returns 0) or $1 microseconds of wall
# time pass (returns 1).
poll_until() {
  local deadline=$((${EPOCHREALTIME/./} + $1))
  shift
  until "$@"; do
    ((${EPOCHREALTIME/./} < deadline)) || return 1
    sleep 0.01
  done
}

# True once file $1 has a line starting with $2.
has_line() {
  local line
  while read -r line; do [[ $line == "$2"* ]] && return 0; done <"$1"
  return 1
}

# True once the server printed its listening line, or died (the caller tells which).
server_ready() { has_line "$tmp/server.out" "listening " || dead "$SRV_PID"; }

# Starts server row $1 and waits (5 s at most) for its "listening" line. Sets SRV_PID,
# SRV_PORT, SRV_BACKEND. Returns 1 with ROW_ERR set on failure, or 2 with ROW_ERR set when
# the row is skipped (see UNAVAILABLE_OK), leaving nothing running.
start_server() {
  local prog mode_arg rc=0
  read -r prog mode_arg <<<"${SERVER[$1]}"
  local args=(--port 0) envs=()
  [[ $mode_arg != - ]] && args+=(--mode "$mode_arg")
  [[ -n ${SERVER_ENV[$1]:-} ]] && read -ra envs <<<"env ${SERVER_ENV[$1]}"
  # Emptied here, not only by the child's redirection: the child may not have run yet when
  # the polling below first reads, and must not find the previous server's lines.
  : >"$tmp/server.out"
  : >"$tmp/server.err"
  "${envs[@]}" "${PIN_SERVER[@]}" "$bin/bench-$prog" "${args[@]}" >"$tmp/server.out" \
    2>"$tmp/server.err" &
  SRV_PID=$!
  poll_until 5000000 server_ready || true
  if ! has_line "$tmp/server.out" "listening " && dead "$SRV_PID"; then
    wait "$SRV_PID" || rc=$?
    SRV_PID=""
    ROW_ERR="server exited at start (status $rc): $(tail -n 1 "$tmp/server.err")"
    if ((rc == 77)) && has_word "$UNAVAILABLE_OK" "$1"; then
      ((uring_required)) && { ROW_ERR+=" (RASIO_REQUIRE names uring)"; return 1; }
      ROW_ERR=$(tail -n 1 "$tmp/server.err")
      return 2
    fi
    return 1
  fi
  if ! has_line "$tmp/server.out" "listening "; then
    ROW_ERR="server did not start within 5 s: $(tail -n 1 "$tmp/server.err")"
    kill -KILL "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=""
    return 1
  fi
  SRV_PORT=$(awk '/^listening /{print $2}' "$tmp/server.out")
  SRV_BACKEND=$(awk '/^backend /{print $2 "/" $3}' "$tmp/server.out")
  # A row that names its backend must get it: a rasio falling back would measure another row.
  local want=${SERVER_ENV[$1]:-}
  if [[ $want == *RASIO_BACKEND=* && ${SRV_BACKEND#*/} != "${want##*RASIO_BACKEND=}" ]]; then
    ROW_ERR="asked for backend ${want##*RASIO_BACKEND=}, the server reports $SRV_BACKEND"
    kill -KILL "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=""
    return 1
  fi
}

# Stops the server with SIGTERM and reaps it. Sets SRV_RUSAGE ("user sys maxrss"). Returns 1
# with ROW_ERR set if it had died already, would not stop within 5 s, or printed no rusage.
stop_server() {
  local pid=$SRV_PID rc=0
  SRV_PID=""
  if ! alive "$pid"; then
    wait "$pid" || rc=$?
    ROW_ERR="server died during the run (status $rc): $(tail -n 1 "$tmp/server.err")"
    return 1
  fi
  kill -TERM "$pid"
  if poll_until 5000000 dead "$pid"; then :; else
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    ROW_ERR="server ignored SIGTERM for 5 s; killed"
    return 1
  fi
  wait "$pid" || rc=$?
  SRV_RUSAGE=$(awk '/^rusage /{print $2, $3, $4}' "$tmp/server.out")
  SRV_COUNT=$(awk '/^count /{print $2 "=" $3}' "$tmp/server.out")
  if ((rc != 0)) || [[ -z $SRV_RUSAGE ]]; then
    ROW_ERR="server exit status $rc after SIGTERM, rusage line: '${SRV_RUSAGE}'"
    return 1
  fi
}

# --- one row ---------------------------------------------------------------------------------

CSV_COLUMNS="mode,run,workload,server,backend,kind,conns,size,idle,seconds,msgs,total_msgs,\
rate,unit,p50_us,p99_us,p999_us,srv_user_s,srv_sys_s,cpu_s_per_M,win_cpu_s_per_M,loadgen_busy,\
maxrss_kib,rusage_maxrss_kib,syscalls_per_msg,pinning,status,note,self_calls,self_per_msg"

# The value of key $2 in the key=value line $1, or NA.
kv() {
  local pair
  for pair in $1; do
    [[ $pair == "$2="* ]] && { echo "${pair#*=}"; return; }
  done
  echo NA
}

# Appends one CSV row from the associative array ROW (missing columns: empty).
emit_row() {
  local c line="" sep=""
  for c in ${CSV_COLUMNS//,/ }; do
    line+="$sep${ROW[$c]:-}"
    sep=,
  done
  echo "$line" >>"$csv"
}

# Fills ROW from the server's rusage and the loadgen's line $1.
fill_measures() {
  local lg=$1 user sys rss k
  read -r user sys rss <<<"$SRV_RUSAGE"
  for k in seconds msgs total_msgs rate unit p50_us p99_us p999_us loadgen_busy; do
    ROW[$k]=$(kv "$lg" $k)
  done
  ROW[srv_user_s]=$user ROW[srv_sys_s]=$sys ROW[rusage_maxrss_kib]=$rss
  ROW[maxrss_kib]=$(kv "$lg" server_rss_kib)
  if [[ -n $SRV_COUNT ]]; then
    ROW[self_calls]=$SRV_COUNT
    ROW[self_per_msg]=$(awk -v n="${SRV_COUNT#*=}" -v m="${ROW[total_msgs]}" \
      'BEGIN { printf "%.3f", (m > 0 ? n / m : 0) }')
  fi
  ROW[cpu_s_per_M]=$(awk -v u="$user" -v s="$sys" -v m="${ROW[total_msgs]}" \
    'BEGIN { printf "%.3f", (m > 0 ? (u + s) / m * 1e6 : 0) }')
  ROW[win_cpu_s_per_M]=$(awk -v c="$(kv "$lg" server_cpu_s)" -v m="${ROW[msgs]}" \
    'BEGIN { printf "%.3f", (m > 0 ? c / m * 1e6 : 0) }')
}

failed_rows=0

skipped_rows=0

# Records a skipped row (start_server returned 2): on stderr with the server's reason, and
# in the CSV with status SKIP.
skip_row() {
  echo "SKIP ${ROW[workload]} ${ROW[server]}: $ROW_ERR" >&2
  ROW[status]=SKIP ROW[note]=$(tr ',\n' '; ' <<<"$ROW_ERR" | sed 's/ *$//')
  skipped_rows=$((skipped_rows + 1))
  emit_row
}

# Records the outcome of a start_server that returned $1 (1: failed, 2: skipped).
not_started() { if (($1 == 2)); then skip_row; else fail_row; fi; }

# Records a failed row: loudly on stderr and in the CSV.
fail_row() {
  echo "FAIL ${ROW[workload]} ${ROW[server]} (run ${ROW[run]}): $ROW_ERR" >&2
  ROW[status]=FAIL ROW[note]=$(echo "$ROW_ERR" | tr ',\n' ';  ')
  failed_rows=$((failed_rows + 1))
  emit_row
}

# Runs echo workload $2 against server row $3 (run number $1).
run_echo() {
  local kind conns size idle lg
  read -r kind conns size idle <<<"${WORKLOAD[$2]}"
  declare -gA ROW=([mode]=$mode [run]=$1 [workload]=$2 [server]=$3 [kind]=$kind [conns]=$conns
    [size]=$size [idle]=$idle [pinning]="$pinning" [status]=ok)
  ROW_ERR=""
  local rc=0
  start_server "$3" || rc=$?
  ((rc == 0)) || { not_started "$rc"; return; }
  ROW[backend]=$SRV_BACKEND
  if ! lg=$(timeout 120 "${PIN_GEN[@]}" "$bin/bench-loadgen" --port "$SRV_PORT" \
    --workload "$kind" --conns "$conns" --size "$size" --idle "$idle" --seconds "$seconds" \
    --warmup "$warmup" --server-pid "$SRV_PID" 2>"$tmp/loadgen.err"); then
    local err
    err=$(tail -n 1 "$tmp/loadgen.err")
    stop_server || err+="; $ROW_ERR"
    ROW_ERR=$err
    fail_row
    return
  fi
  stop_server || { fail_row; return; }
  fill_measures "$lg"
  emit_row
  printf '  %-18s %-17s %12s %-6s p50 %8s us  p99 %8s us  CPU %8s s/M\n' "$2" "$3" \
    "${ROW[rate]}" "${ROW[unit]}" "${ROW[p50_us]}" "${ROW[p99_us]}" "${ROW[cpu_s_per_M]}"
}

# Runs the rasio and libuv programs of kind $2 (timers, wakeup), run number $1.
run_micro() {
  local lib out prog args
  for lib in rasio uv; do
    declare -gA ROW=([mode]=$mode [run]=$1 [workload]=$2 [server]=$lib [kind]=$2 [status]=ok)
    prog=$bin/bench-${2}_$lib
    if [[ $2 == timers ]]; then
      args=(--count "$TIMER_COUNT") ROW[pinning]="${PIN_SERVER[*]:-none}"
      out=$(timeout 120 "${PIN_SERVER[@]}" "$prog" "${args[@]}" 2>"$tmp/micro.err") || out=""
    else
      # A cross-thread wakeup needs both threads running: not pinned to one CPU.
      args=(--seconds "$seconds") ROW[pinning]="none"
      out=$(timeout 120 "$prog" "${args[@]}" 2>"$tmp/micro.err") || out=""
    fi
    if [[ $(kv "$out" rate) == NA ]]; then
      ROW_ERR="bench-${2}_$lib: $(tail -n 1 "$tmp/micro.err")"
      fail_row
      continue
    fi
    ROW[msgs]=$(kv "$out" "$([[ $2 == timers ]] && echo timers || echo wakeups)")
    ROW[total_msgs]=${ROW[msgs]} ROW[seconds]=$(kv "$out" seconds) ROW[rate]=$(kv "$out" rate)
    ROW[unit]="$2/s"
    emit_row
    printf '  %-18s %-17s %12s %s\n' "$2" "$lib" "${ROW[rate]}" "${ROW[unit]}"
  done
}

# --- syscalls per message: a separate, shorter run under strace -------------------------------

# Attaches strace -c to every thread of the server; returns once all are attached. With -f,
# strace seizes every thread of a process named by -p ("attached with N threads"), so the -p
# of a thread it already holds fails with EPERM, harmlessly; what counts is the total.
attach_strace() {
  local tids=() t
  for t in /proc/"$SRV_PID"/task/*; do tids+=(-p "${t##*/}"); done
  : >"$tmp/strace.err" # not the previous run's lines (see start_server)
  : >"$tmp/strace.txt"
  strace -c -f -o "$tmp/strace.txt" "${tids[@]}" 2>"$tmp/strace.err" &
  STRACE_PID=$!
  poll_until 5000000 strace_ready $((${#tids[@]} / 2)) && alive "$STRACE_PID" && return 0
  ROW_ERR="strace attached $(strace_attached) of $((${#tids[@]} / 2)) threads:"
  ROW_ERR+=" $(tail -n 1 "$tmp/strace.err")"
  return 1
}

# True once strace has attached $1 threads, or has exited (the caller tells which).
strace_ready() { (($(strace_attached) >= $1)) || dead "$STRACE_PID"; }

# How many threads strace reports attached so far.
strace_attached() {
  awk '/ attached with [0-9]+ threads/ { n += $(NF - 1); next } / attached$/ { n++ }
       END { print n + 0 }' "$tmp/strace.err"
}

# Stops strace (SIGINT: it detaches and writes its table) and waits for it.
detach_strace() {
  kill -INT "$STRACE_PID" 2>/dev/null || true
  wait "$STRACE_PID" || true
  STRACE_PID=""
}

# Appends server $1's strace table over $2 messages of workload $3 to the breakdown file;
# prints the total calls.
record_syscalls() {
  awk -v srv="$1" -v msgs="$2" -v wl="$3" -v out="$syscalls_csv" '
    /^-+ / { table = 1; next }
    table && NF >= 5 {
      name = $NF
      calls = $4
      errors = (NF >= 6) ? $5 : 0
      if (name == "total") { print calls; next }
      printf "%s,%s,%s,%s,%.4f,%s\n", srv, name, calls, errors, calls / (msgs > 0 ? msgs : 1),
        wl >> out
    }' "$tmp/strace.txt"
}

# Counts server $1's syscalls over ping-pong workload $2 (BENCH_STRACE_WORKLOADS). The CSV
# row's workload is "syscalls" for pp100-64 (what it always was) and "syscalls-<w>" for the
# others; the breakdown file names the workload in its last column.
run_syscalls() {
  local s=$1 sw=$2 lg total kind conns size idle rc=0
  read -r kind conns size idle <<<"${WORKLOAD[$sw]}"
  local name=syscalls
  [[ $sw != pp100-64 ]] && name=syscalls-$sw
  declare -gA ROW=([mode]=$mode [run]=1 [workload]=$name [server]=$s [kind]=pingpong
    [conns]=$conns [size]=$size [idle]=0 [pinning]="$pinning" [status]=ok)
  ROW_ERR=""
  start_server "$s" || rc=$?
  ((rc == 0)) || { not_started "$rc"; return; }
  ROW[backend]=$SRV_BACKEND
  if ! attach_strace; then
    detach_strace
    stop_server || true
    fail_row
    return
  fi
  if ! lg=$(timeout 120 "${PIN_GEN[@]}" "$bin/bench-loadgen" --port "$SRV_PORT" \
    --workload pingpong --conns "$conns" --size "$size" --seconds "$strace_seconds" --warmup 0 \
    2>"$tmp/loadgen.err"); then
    ROW_ERR="under strace, $(tail -n 1 "$tmp/loadgen.err")"
    detach_strace
    stop_server || true
    fail_row
    return
  fi
  detach_strace
  stop_server || { fail_row; return; }
  ROW[msgs]=$(kv "$lg" msgs) ROW[total_msgs]=$(kv "$lg" total_msgs) ROW[seconds]=$(kv "$lg" seconds)
  total=$(record_syscalls "$s" "${ROW[total_msgs]}" "$sw")
  ROW[syscalls_per_msg]=$(awk -v t="$total" -v m="${ROW[total_msgs]}" \
    'BEGIN { printf "%.3f", (m > 0 ? t / m : 0) }')
  emit_row
  printf '  %-18s %-17s %8s syscalls/msg (%s calls, %s msgs)\n' "$name" "$s" \
    "${ROW[syscalls_per_msg]}" "$total" "${ROW[total_msgs]}"
}

# --- the header: what ran where -------------------------------------------------------------

cache_var() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }

write_header() {
  local cc flags
  cc=$(cache_var CMAKE_C_COMPILER)
  flags="$(cache_var CMAKE_C_FLAGS) $(cache_var CMAKE_C_FLAGS_RELEASE)"
  {
    echo "# rasio benchmark: mode=$mode runs=$runs seconds=$seconds warmup=$warmup" \
      "strace_seconds=$strace_seconds started=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# host: kernel=$(uname -sr) cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo |
      head -n 1) nproc=$(nproc)"
    echo "# build: $build type=$(cache_var CMAKE_BUILD_TYPE) compiler=$("$cc" --version |
      head -n 1) flags=${flags# }"
    echo "# versions:" \
      "rasio=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)" \
      "libuv=$(pkg-config --modversion libuv 2>/dev/null || echo none)" \
      "libevent=$(pkg-config --modversion libevent 2>/dev/null || echo none)" \
      "libev=$(awk '/define EV_VERSION_MAJOR/{ma=$3} /define EV_VERSION_MINOR/{mi=$3}
        END{print (ma == "" ? "none" : ma "." mi)}' /usr/include/ev.h 2>/dev/null)"
    echo "# pinning: $pinning (taskset); tcp: tw_reuse=$(cat /proc/sys/net/ipv4/tcp_tw_reuse)" \
      "ports=$(tr '\t' - </proc/sys/net/ipv4/ip_local_port_range)" \
      "somaxconn=$(cat /proc/sys/net/core/somaxconn)"
    echo "# roles: order=${servers// /:} peers=${PEERS// /:} rasio_inline=${RASIO_INLINE// /:}" \
      "floor=$FLOOR uring_floor=$URING_FLOOR"
    echo "# columns: rate in unit over the measured window; msgs in the window (pump: 64 KiB" \
      "chunks); total_msgs from first byte to drained, warm-up included; cpu_s_per_M =" \
      "server rusage user+sys / total_msgs * 1e6; win_cpu_s_per_M = server CPU in the window" \
      "(/proc) / msgs * 1e6; loadgen_busy = share of its CPU the load generator used in the" \
      "window (near 1: it, not the server, set the rate);" \
      "maxrss_kib = server peak RSS (VmHWM after the drain);" \
      "rusage_maxrss_kib = the server's ru_maxrss, which Linux also takes from the shell that" \
      "forked it (not used); syscalls_per_msg only on the" \
      "separate strace rows (workload=syscalls: pingpong 100 x 64 B; syscalls-<workload>:" \
      "the others in BENCH_STRACE_WORKLOADS), whose timing means nothing;" \
      "self_calls = name=count of a system call the server counts itself (bench_server_count:" \
      "echo_uring's io_uring_enter) over the timed run, self_per_msg = that / total_msgs"
    echo "$CSV_COLUMNS"
  } >"$csv"
}

# --- main ------------------------------------------------------------------------------------

# Seconds one pass over the selected rows should take, from the windows and a per-row
# overhead measured here (server start and stop, connecting, the drain).
estimate() {
  local n_echo=0 n_idle=0 n_micro=0 n_strace=0 w
  local n_srv
  n_srv=$(wc -w <<<"$servers")
  for w in $workloads; do
    case $w in
      idle*) n_idle=$((n_idle + n_srv)) ;;
      timers | wakeup) n_micro=$((n_micro + 1)) ;;
      syscalls) n_strace=$((n_srv * $(wc -w <<<"$strace_workloads"))) ;;
      *) n_echo=$((n_echo + n_srv)) ;;
    esac
  done
  awk -v r="$runs" -v s="$seconds" -v w="$warmup" -v e="$n_echo" -v i="$n_idle" -v m="$n_micro" \
    -v t="$n_strace" -v ts="$strace_seconds" \
    'BEGIN { per_run = e * (s + w + 0.6) + i * (s + w + 3) + m * (2 * s + 6)
             printf "%.0f", r * per_run + t * (ts + 2) }'
}

check_setup
mkdir -p "$results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)-$mode
csv=$results/$stamp.csv
syscalls_csv=$results/$stamp-syscalls.csv
echo "server,syscall,calls,errors,per_msg,workload" >"$syscalls_csv"
write_header

est=$(estimate)
echo "bench $mode: $runs run(s) per row, ${warmup} s warm-up + ${seconds} s measured"
echo "pinning: $pinning"
echo "servers: $servers"
echo "workloads: $workloads"
echo "estimated time: $((est / 60)) min $((est % 60)) s; results: $csv"
started=$SECONDS

for ((run = 1; run <= runs; run++)); do
  echo "--- run $run of $runs"
  for w in $workloads; do
    case $w in
      syscalls) ;; # once, after the timed runs
      timers | wakeup) run_micro "$run" "$w" ;;
      *) for s in $servers; do run_echo "$run" "$w" "$s"; done ;;
    esac
  done
done
if has_word "$workloads" syscalls; then
  for sw in $strace_workloads; do
    echo "--- syscalls per message (strace -c -f, $sw, ${strace_seconds} s)"
    for s in $servers; do run_syscalls "$s" "$sw"; done
  done
fi

echo "--- done in $((SECONDS - started)) s (estimated $est s)"
"$here/report.sh" "$csv" || { echo "bench: the report failed" >&2; exit 1; }
if ((skipped_rows > 0)); then
  echo "bench: $skipped_rows row(s) skipped (io_uring or rasio's uring backend unavailable);" \
    "see SKIP above" >&2
fi
if ((failed_rows > 0)); then
  echo "bench: $failed_rows row(s) FAILED; see above and the status column of $csv" >&2
  exit 1
fi
