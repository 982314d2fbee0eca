#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# bench/report.sh RESULT.csv: the summary of one bench/run.sh result, again or for the first
# time. Prints the tables and targets, and writes next to the CSV the same as markdown (.md),
# as text (.txt) and the ping-pong chart (.png, bench/plot.gp). Reads RESULT-syscalls.csv
# when it exists. The arithmetic is in bench/report.awk.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
csv=${1:?usage: bench/report.sh RESULT.csv}
base=${csv%.csv}
syscalls=$base-syscalls.csv
[[ -f $syscalls ]] || syscalls=/dev/null
dat=$(mktemp /tmp/rasio-bench-plot.XXXXXX)
trap 'rm -f "$dat"' EXIT

{
  echo "# Benchmark summary: $(basename "$csv")"
  echo
  echo '```'
  grep '^# ' "$csv" | grep -v '^# columns' | sed 's/^# //'
  echo '```'
} >"$base.md"
awk -v md="$base.md" -v dat="$dat" -f "$here/report.awk" "$csv" "$syscalls" | tee "$base.txt"

# The chart: one group of bars per ping-pong workload, one bar per server.
servers=$(head -n 1 "$dat" | cut -d' ' -f3-)
if (($(wc -l <"$dat") > 1)); then
  gnuplot -e "datafile='$dat'; outfile='$base.png'; servers='$servers'" "$here/plot.gp"
  echo "chart: $base.png"
fi
echo "markdown: $base.md"
