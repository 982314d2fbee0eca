# bench/report.awk: the summary of one bench/run.sh result (called by bench/report.sh).
#
# Inputs, in this order: the run's CSV (one row per run, '#' header lines, one of which names
# the server roles), then its -syscalls.csv. Variables: md, the markdown file to write; dat,
# the gnuplot data file to write (ping-pong median msgs/s, one row per workload, one column
# per server). The text summary goes to stdout.
#
# Every number shown is a median over the runs of a row; with more than one run the rate's
# spread (min-max) follows it. A row with any failed run shows FAIL, and a skipped one
# (its backend cannot run here) SKIP with the reason; both are left out of every ratio.
# The strace runs are workloads named "syscalls" (ping-pong 100 x 64 B, pp100-64) and
# "syscalls-<workload>" (the others in BENCH_STRACE_WORKLOADS). Written for mawk (Debian's
# awk): no gawk extensions.

BEGIN { FS = "," }

/^# roles: / {
  for (i = 3; i <= split($0, f, " "); i++) {
    split(f[i], kv, "=")
    roles[kv[1]] = kv[2]
  }
  nord = split(roles["order"], order, ":")
  npeer = split(roles["peers"], peer, ":")
  ninl = split(roles["rasio_inline"], inline, ":")
  floor = roles["floor"]
  next
}
/^#/ { next }
FILENAME != cur {
  cur = FILENAME
  file++
  for (i = 1; i <= NF; i++) col[file, $i] = i
  next
}
file == 1 { add_run(); next }
file == 2 { add_syscall(); next }

END {
  if (file < 1 || nw == 0) { print "report: no rows" > "/dev/stderr"; exit 1 }
  legend("text"); legend("md")
  for (i = 1; i <= nw; i++) {
    w = worder[i]
    if (wkind[w] == "pingpong" || wkind[w] == "pump" || wkind[w] == "churn") {
      if (!is_sc(w)) { echo_table(w, "text"); echo_table(w, "md") }
    }
  }
  micro_table("text"); micro_table("md")
  targets("text"); targets("md")
  plot_data()
}

# ------------------------------------------------------------------ collecting

function v(name) { return (file, name) in col ? $(col[file, name]) : "" }

function add_run(   w, s, k) {
  w = v("workload"); s = v("server"); k = w SUBSEP s
  if (!(w in wseen)) {
    wseen[w] = 1; worder[++nw] = w
    wkind[w] = v("kind"); wconns[w] = v("conns"); wsize[w] = v("size"); widle[w] = v("idle")
  }
  has[k] = 1
  if (v("status") == "SKIP") { skipped[k] = 1; note[k] = v("note"); return }
  if (v("status") != "ok") { failed[k] = 1; note[k] = v("note"); return }
  unit[k] = v("unit"); backend[k] = v("backend")
  push(k, "rate", v("rate")); push(k, "p50", v("p50_us")); push(k, "p99", v("p99_us"))
  push(k, "cpu", v("cpu_s_per_M")); push(k, "wcpu", v("win_cpu_s_per_M"))
  push(k, "rss", v("maxrss_kib")); push(k, "sc", v("syscalls_per_msg"))
  push(k, "gen", v("loadgen_busy")); push(k, "self", v("self_per_msg"))
  if (v("self_calls") != "") selfname[s] = substr(v("self_calls"), 1, index(v("self_calls"), "=") - 1)
}

# The breakdown of the strace run of server s over workload w (before the workload column
# existed, the only run: pp100-64).
function add_syscall(   s, w) {
  s = v("server"); w = sc_workload(v("workload") == "" ? "pp100-64" : v("workload"))
  nsc[w, s]++
  scname[w, s, nsc[w, s]] = v("syscall"); scper[w, s, nsc[w, s]] = v("per_msg") + 0
}

# Whether w is a strace run; the strace run's name for ping-pong workload w.
function is_sc(w) { return w == "syscalls" || w ~ /^syscalls-/ }
function sc_workload(w) { return w == "pp100-64" ? "syscalls" : "syscalls-" w }

# Syscalls per message of server s in the strace run over workload w, or "".
function sc_of(w, s) { return med(sc_workload(w) SUBSEP s, "sc") }

# Server CPU per message of row (w, s) divided by the epoll floor's in the same run, or "".
function cpu_floor(w, s) { return ratio(med(w SUBSEP s, "cpu"), med(w SUBSEP floor, "cpu")) }

function push(k, m, x) {
  if (x == "" || x == "NA") return
  vals[k, m] = vals[k, m] " " x
}

# ------------------------------------------------------------------ statistics

function sorted(k, m, a,   n, i, j, t) {
  n = split(vals[k, m], a, " ")
  for (i = 1; i <= n; i++) a[i] += 0
  for (i = 2; i <= n; i++) {
    t = a[i]
    for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
    a[j + 1] = t
  }
  return n
}

# The median of metric m of row k, or "" when there is none (or a run failed).
function med(k, m,   a, n) {
  if (failed[k] || skipped[k] || !((k, m) in vals)) return ""
  n = sorted(k, m, a)
  if (n == 0) return ""
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

function spread(k, m,   a, n) {
  n = sorted(k, m, a)
  return n > 1 ? sprintf("%s-%s", fmt_rate(k, a[1]), fmt_rate(k, a[n])) : ""
}

# The highest value of metric m of row k: on a shared machine whose speed swings between
# runs, the least disturbed run of each server is a second, steadier comparison.
function peak(k, m,   a, n) {
  if (failed[k] || skipped[k] || !((k, m) in vals)) return ""
  n = sorted(k, m, a)
  return n > 0 ? a[n] : ""
}

# The best top rate of workload w among the n servers in list l.
function best_top(w, l, n,   i, r, best) {
  best = ""
  for (i = 1; i <= n; i++) {
    r = peak(w SUBSEP l[i], "rate")
    if (r != "" && (best == "" || r > best)) best = r
  }
  return best
}

function runs(k, m,   a) { return (k, m) in vals ? split(vals[k, m], a, " ") : 0 }

function rate(w, s) { return med(w SUBSEP s, "rate") }

# The best median rate of workload w among the n servers in list l; sets best_name.
function best_of(w, l, n,   i, r, best) {
  best = ""; best_name = ""
  for (i = 1; i <= n; i++) {
    r = rate(w, l[i])
    if (r != "" && (best == "" || r > best)) { best = r; best_name = l[i] }
  }
  return best
}

function is_peer(s,   i) { for (i = 1; i <= npeer; i++) if (peer[i] == s) return 1; return 0 }
function is_inline(s,   i) { for (i = 1; i <= ninl; i++) if (inline[i] == s) return 1; return 0 }

# The workload like w but without idle connections (the idle row's baseline), or "".
function baseline(w,   i, b) {
  for (i = 1; i <= nw; i++) {
    b = worder[i]
    if (widle[b] == 0 && wkind[b] == wkind[w] && wconns[b] == wconns[w] && wsize[b] == wsize[w])
      return b
  }
  return ""
}

# ------------------------------------------------------------------ formatting

function fmt_rate(k, x) { return x == "" ? "-" : sprintf(unit[k] == "MB/s" ? "%.1f" : "%.0f", x) }
function fmt(f, x) { return x == "" ? "-" : sprintf(f, x) }
function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "" : a / b }
function verdict(r, min) { return r == "" ? "-" : (r >= min ? "yes" : "NO") }

# Appends: report.sh has already written the markdown's heading.
function out(f, line) { if (f == "md") print line >> md; else print line }

# One table row: cells c[1..n], widths wd[1..n] (negative: left-aligned) for text.
function row(f, c, n, wd,   i, line) {
  line = ""
  for (i = 1; i <= n; i++) {
    if (f == "md") line = line "| " c[i] " "
    else line = line sprintf("%" wd[i] "s", c[i]) (i < n ? " " : "")
  }
  out(f, f == "md" ? line "|" : line)
}

function header(f, c, n, wd,   i, sep) {
  row(f, c, n, wd)
  if (f == "md") {
    sep = ""
    for (i = 1; i <= n; i++) sep = sep (wd[i] < 0 ? "|---" : "|---:")
    out(f, sep "|")
  }
}

function describe(w,   d) {
  d = wkind[w] ", " wconns[w] (wkind[w] == "churn" ? " slot" : " conn") (wconns[w] == 1 ? "" : "s")
  d = d " x " wsize[w] " B"
  if (widle[w] > 0) d = d ", + " widle[w] " idle conns"
  return d
}

# ------------------------------------------------------------------ the tables

function legend(f) {
  out(f, "")
  out(f, "Columns: rate over the measured window; p50/p99 round trip (churn: connect to echo);" \
      " CPU_s/M = server user+sys seconds per million messages (pump: 64 KiB chunks);" \
      " gen_busy = share of its CPU the load generator used (near 1.00: it set the rate," \
      " not the server); RSS = server peak; vs_peer = / best of " roles["peers"] \
      "; vs_floor = / " floor "; CPU/fl = CPU_s/M / " floor "'s in the same run;" \
      " sc/msg = syscalls per message in the strace run of this workload (- if none);" \
      " B/idle = bytes of server RSS per idle connection.")
}

function echo_table(w, f,   i, s, k, n, c, wd, bp, fl, r, b, idle_cost, u) {
  bp = best_of(w, peer, npeer); fl = rate(w, floor)
  b = widle[w] > 0 ? baseline(w) : ""
  for (i = 1; i <= nord; i++) if (unit[w SUBSEP order[i]] != "") u = unit[w SUBSEP order[i]]
  out(f, "")
  out(f, (f == "md" ? "### " : "== ") w ": " describe(w) " (" u "; median of runs [min-max])")
  if (f == "md") out(f, "")
  split("server backend rate [min-max] p50_us p99_us CPU_s/M gen_busy RSS_MiB vs_peer vs_floor" \
        " CPU/fl sc/msg", c, " ")
  split("-19 -17 10 -17 8 9 8 8 8 7 8 6 6", wd, " ")
  n = 13
  if (b != "") { c[++n] = "B/idle"; wd[n] = 7 }
  header(f, c, n, wd)
  for (i = 1; i <= nord; i++) {
    s = order[i]; k = w SUBSEP s
    if (!has[k]) continue
    if (failed[k] || skipped[k]) {
      c[1] = s; c[2] = failed[k] ? "FAIL" : "SKIP"; c[3] = note[k]
      row(f, c, 3, wd)
      continue
    }
    r = rate(w, s)
    c[1] = s; c[2] = backend[k]; c[3] = fmt_rate(k, r); c[4] = spread(k, "rate")
    c[5] = fmt("%.1f", med(k, "p50")); c[6] = fmt("%.1f", med(k, "p99"))
    c[7] = fmt("%.2f", med(k, "cpu")); c[8] = fmt("%.2f", med(k, "gen"))
    c[9] = fmt("%.1f", med(k, "rss") / 1024)
    c[10] = fmt("%.2f", ratio(r, bp)); c[11] = fmt("%.2f", ratio(r, fl))
    c[12] = fmt("%.2f", cpu_floor(w, s)); c[13] = fmt("%.2f", sc_of(w, s))
    if (b != "") c[14] = idle_bytes(w, b, s)
    row(f, c, n, wd)
  }
}

# Bytes of server memory per idle connection: the idle row's peak RSS minus its baseline's.
function idle_bytes(w, b, s,   ri, rb) {
  ri = med(w SUBSEP s, "rss"); rb = med(b SUBSEP s, "rss")
  return (ri == "" || rb == "") ? "-" : sprintf("%.0f", (ri - rb) * 1024 / widle[w])
}

function micro_table(f,   i, j, w, k, c, wd, r1, r2, libs) {
  for (i = 1; i <= nw; i++) {
    w = worder[i]
    if (wkind[w] != "timers" && wkind[w] != "wakeup") continue
    out(f, "")
    out(f, (f == "md" ? "### " : "== ") w (w == "timers" ? ": start + fire + cancel" : \
        ": cross-thread wakeups") " (per second; median of runs [min-max])")
    if (f == "md") out(f, "")
    split("library rate [min-max] vs_uv", c, " "); split("-18 12 -21 6", wd, " ")
    header(f, c, 4, wd)
    r2 = rate(w, "uv")
    split("rasio uv", libs, " ")
    for (j = 1; j <= 2; j++) {
      k = w SUBSEP libs[j]
      if (!has[k]) continue
      r1 = rate(w, libs[j])
      c[1] = libs[j]; c[2] = failed[k] ? "FAIL" : fmt_rate(k, r1); c[3] = spread(k, "rate")
      c[4] = fmt("%.2f", ratio(r1, r2))
      row(f, c, 4, wd)
    }
  }
}

# ------------------------------------------------------------------ targets

function targets(f) {
  out(f, "")
  out(f, f == "md" ? "### Targets" : "== targets")
  target_pingpong(f)
  target_idle(f)
  target_micro(f)
  target_syscalls(f)
  target_uring(f)
}

function target_pingpong(f,   i, w, c, wd, rb, rbn, bp, bpn, fl, r1, r2, r3, any) {
  for (i = 1; i <= nw; i++) if (wkind[worder[i]] == "pingpong" && !is_sc(worder[i])) any = 1
  if (!any) return
  out(f, "")
  out(f, "rasio best (best of " roles["rasio_inline"] ") / best peer >= 1.00, / floor >= 0.90;")
  out(f, "medians, then top_ratio: the same best-of-rasio / best-of-peers on each server's fastest run:")
  if (f == "md") out(f, "")
  split("workload rasio_best msg/s best_peer msg/s ratio >=1.0 floor_ratio >=0.9 top_ratio >=1.0", c, " ")
  split("-18 -14 10 -12 10 6 5 11 5 9 5", wd, " ")
  header(f, c, 11, wd)
  for (i = 1; i <= nw; i++) {
    w = worder[i]
    if (wkind[w] != "pingpong" || widle[w] > 0 || is_sc(w)) continue
    rb = best_of(w, inline, ninl); rbn = best_name
    bp = best_of(w, peer, npeer); bpn = best_name
    fl = rate(w, floor)
    r1 = ratio(rb, bp); r2 = ratio(rb, fl)
    c[1] = w; c[2] = rbn == "" ? "-" : rbn; c[3] = fmt("%.0f", rb)
    c[4] = bpn == "" ? "-" : bpn; c[5] = fmt("%.0f", bp)
    c[6] = fmt("%.2f", r1); c[7] = verdict(r1, 1.0); c[8] = fmt("%.2f", r2); c[9] = verdict(r2, 0.9)
    r3 = ratio(best_top(w, inline, ninl), best_top(w, peer, npeer))
    c[10] = fmt("%.2f", r3); c[11] = verdict(r3, 1.0)
    row(f, c, 11, wd)
  }
}

# Per-message cost with idle connections vs without: time per message (1 / rate) and server
# CPU per message within the measured window (the whole-life figure would also charge the
# idle row for accepting its 10,000 connections).
function target_idle(f,   i, j, w, b, s, c, wd, t, cp, ki, kb) {
  for (i = 1; i <= nw; i++) {
    w = worder[i]
    if (widle[w] <= 0 || (b = baseline(w)) == "") continue
    out(f, "")
    out(f, "per-message cost with " widle[w] " idle connections (" w ") vs without (" b \
        "), within 10%:")
    if (f == "md") out(f, "")
    split("server time/msg ok window_CPU/msg ok B/idle", c, " ")
    split("-18 9 4 15 4 7", wd, " ")
    header(f, c, 6, wd)
    for (j = 1; j <= nord; j++) {
      s = order[j]; ki = w SUBSEP s; kb = b SUBSEP s
      if (!has[ki] || !has[kb]) continue
      t = ratio(rate(b, s), rate(w, s)); cp = ratio(med(ki, "wcpu"), med(kb, "wcpu"))
      c[1] = s; c[2] = fmt("%.2f", t); c[3] = t == "" ? "-" : (t <= 1.10 ? "yes" : "NO")
      c[4] = fmt("%.2f", cp); c[5] = cp == "" ? "-" : (cp <= 1.10 ? "yes" : "NO")
      c[6] = idle_bytes(w, b, s)
      row(f, c, 6, wd)
    }
  }
}

function target_micro(f,   i, w, r) {
  for (i = 1; i <= nw; i++) {
    w = worder[i]
    if (wkind[w] != "timers" && wkind[w] != "wakeup") continue
    r = ratio(rate(w, "rasio"), rate(w, "uv"))
    out(f, "")
    out(f, w ": rasio / libuv = " fmt("%.2f", r) " (rasio " fmt("%.0f", rate(w, "rasio")) \
        ", libuv " fmt("%.0f", rate(w, "uv")) " per s)")
  }
}

# Syscalls per message from the strace runs, with each server's largest contributors: one
# table per strace workload, pp100-64 ("syscalls") first.
function target_syscalls(f,   i, w) {
  selfnote = ""
  if ("syscalls" in wseen) syscall_table(f, "syscalls")
  for (i = 1; i <= nw; i++) {
    w = worder[i]
    if (w ~ /^syscalls-/) syscall_table(f, w)
  }
  if (selfnote == "") return
  out(f, "")
  out(f, "self/msg: the calls the server counted itself in the timed run of the same workload," \
      " without strace (" selfnote "). strace makes every system call slow, so a server that" \
      " batches completions (io_uring) batches more under it than without: per_msg is then" \
      " too low, and self/msg is the figure to trust.")
}

function syscall_table(f, sw,   j, s, k, c, wd, n, a, idx, x, y, t, top) {
  out(f, "")
  out(f, "syscalls per message (strace -c -f on all server threads, pingpong " wconns[sw] \
      " x " wsize[sw] " B; a separate run, never timed):")
  if (f == "md") out(f, "")
  split("server per_msg self/msg largest_per_msg", c, " "); split("-19 8 8 -60", wd, " ")
  header(f, c, 4, wd)
  for (j = 1; j <= nord; j++) {
    s = order[j]; k = sw SUBSEP s
    if (!has[k]) continue
    n = nsc[sw, s]
    for (x = 1; x <= n; x++) idx[x] = x
    for (x = 2; x <= n; x++) {
      t = idx[x]
      for (y = x - 1; y >= 1 && scper[sw, s, idx[y]] < scper[sw, s, t]; y--) idx[y + 1] = idx[y]
      idx[y + 1] = t
    }
    top = ""
    for (x = 1; x <= n && x <= 6; x++) top = top (x > 1 ? ", " : "") scname[sw, s, idx[x]] " " \
        sprintf("%.2f", scper[sw, s, idx[x]])
    c[1] = s; c[2] = failed[k] ? "FAIL" : skipped[k] ? "SKIP" : fmt("%.2f", med(k, "sc"))
    c[3] = fmt("%.2f", med(sc_echo(sw) SUBSEP s, "self"))
    c[4] = (failed[k] || skipped[k]) ? note[k] : top
    row(f, c, 4, wd)
    if (c[3] != "-" && index(", " selfnote, ", " s ": ") == 0)
      selfnote = selfnote (selfnote == "" ? "" : ", ") s ": " selfname[s]
  }
}

# The echo workload whose strace run sw is.
function sc_echo(sw) { return sw == "syscalls" ? "pp100-64" : substr(sw, 10) }

# Issue 11's targets for the uring rows, met or not, with the numbers. A target whose rows
# did not run (not selected, skipped, failed) shows "-" and why.
function target_uring(f,   c, wd, i, w, any) {
  for (i = 1; i <= nord; i++) if (order[i] ~ /uring/) any = 1
  if (!any) return
  out(f, "")
  out(f, "io_uring targets (issue 11): CPU = server CPU per message / " floor "'s in the same" \
      " workload (CPU_s/M), syscalls = strace run per message, msgs/s = rate / " floor "'s:")
  if (f == "md") out(f, "")
  split("target workload value limit met", c, " "); split("-38 -10 6 -20 -4", wd, " ")
  header(f, c, 5, wd)
  unotes = ""
  uring_row(f, wd, "rasio-uring-oneshot syscalls/msg", "pp100-64",
            sc_of("pp100-64", "rasio-uring-oneshot"), "<=", sc_of("pp100-64", "rasio-edge"),
            "rasio-edge")
  uring_row(f, wd, "rasio-uring-oneshot CPU/msg vs floor", "pp100-64",
            cpu_floor("pp100-64", "rasio-uring-oneshot"), "<=", 1.00, "")
  uring_row(f, wd, "rasio-net-uring syscalls/msg", "pp100-64",
            sc_of("pp100-64", "rasio-net-uring"), "<=", 0.3, "")
  uring_row(f, wd, "rasio-net-uring CPU/msg vs floor", "pp100-64",
            cpu_floor("pp100-64", "rasio-net-uring"), "<=", 0.95, "")
  uring_row(f, wd, "rasio-net-uring CPU/msg vs floor", "pp1000-64",
            cpu_floor("pp1000-64", "rasio-net-uring"), "<=", 0.95, "")
  uring_row(f, wd, "rasio-net-uring CPU/msg vs floor", "pp100-16k",
            cpu_floor("pp100-16k", "rasio-net-uring"), "<=", 1.05, "")
  for (i = 1; i <= nw; i++) {
    w = worder[i]
    if (wkind[w] != "pingpong" || widle[w] > 0 || is_sc(w)) continue
    uring_row(f, wd, "rasio-net-uring msgs/s vs floor", w,
              ratio(rate(w, "rasio-net-uring"), rate(w, floor)), ">=", 0.95, "")
  }
  if (unotes != "") { out(f, ""); out(f, "without a number:" unotes) }
}

# One target: value x against limit lim (op "<=" or ">="; lim_name names a row the limit
# comes from). A missing number says which row has none.
function uring_row(f, wd, what, w, x, op, lim, lim_name,   c, ok, why) {
  c[1] = what; c[2] = w; c[3] = fmt("%.2f", x)
  c[4] = op " " fmt("%.2f", lim) (lim_name != "" ? " (" lim_name ")" : "")
  if (x == "" || lim == "") {
    c[5] = "-"
    why = missing(w, what, lim_name)
    if (index(unotes ";", " " why ";") == 0) unotes = unotes (unotes == "" ? " " : "; ") why
  } else {
    ok = (op == "<=") ? (x + 0 <= lim + 0) : (x + 0 >= lim + 0)
    c[5] = ok ? "yes" : "NO"
  }
  row(f, c, 5, wd)
}

# Why a target has no number: the first of its rows that did not run, and how.
function missing(w, what, lim_name,   s, names, n, i, k, sw) {
  split(what, names, " "); n = 1
  if (lim_name != "") names[++n] = lim_name
  if (what ~ /CPU|msgs/) names[++n] = floor
  sw = what ~ /syscalls/ ? sc_workload(w) : w
  for (i = 1; i <= n; i++) {
    k = sw SUBSEP names[i]
    if (!has[k]) return names[i] " not run on " sw
    if (skipped[k]) return names[i] " skipped: " note[k]
    if (failed[k]) return names[i] " failed on " sw
  }
  return "no number"
}

# ------------------------------------------------------------------ plot data

function plot_data(   i, j, w, line, r, any) {
  line = "# workload"
  for (j = 1; j <= nord; j++) line = line " " order[j]
  print line > dat
  for (i = 1; i <= nw; i++) {
    w = worder[i]
    if (wkind[w] != "pingpong" || is_sc(w)) continue
    line = w
    for (j = 1; j <= nord; j++) {
      r = rate(w, order[j])
      line = line " " (r == "" ? "?" : r)
      if (r != "") any = 1
    }
    print line > dat
  }
  if (!any) print "report: no ping-pong rates to plot" > "/dev/stderr"
}
