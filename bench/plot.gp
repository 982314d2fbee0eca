# bench/plot.gp: ping-pong messages/s per server, one group of bars per workload.
#
# Called by bench/report.sh:
#   gnuplot -e "datafile='F'; outfile='O.png'; servers='name name ...'" bench/plot.gp
# datafile: a '#' line naming the columns, then one line per workload: its name, then the
# median msgs/s of each server in the order of `servers` ("?" where a server has no value).
#
# rasio rows are drawn in strong warm colours, the peer libraries in pale cool ones and the
# epoll floor in black, so rasio's place among them shows at a glance. The y axis is
# logarithmic because the workloads differ by orders of magnitude (1 vs 1000 connections).

set terminal pngcairo size 1400,650 font "sans,10" noenhanced
set output outfile
set datafile missing "?"
set title "Echo ping-pong: messages/s per server (median; log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 1.0 border rgb "#404040"
set boxwidth 0.9
set logscale y
set format y "%.0s%c"
set ylabel "messages/s"
set grid ytics mytics lc rgb "#d0d0d0"
set key outside right top vertical Left reverse
set xtics nomirror
set offsets -0.4, -0.4, 0, 0
set ytics nomirror

# A colour per server row; anything unknown is mid grey.
colour(s) = s eq "epoll-floor" ? "#000000" : \
  s eq "rasio-oneshot" ? "#b2182b" : s eq "rasio-edge" ? "#e6550d" : \
  s eq "rasio-level" ? "#fd8d3c" : s eq "rasio-edge-mailbox" ? "#d6604d" : \
  s eq "rasio-net" ? "#8c2d04" : s eq "uring-floor" ? "#636363" : \
  s eq "rasio-uring-oneshot" ? "#7a0177" : s eq "rasio-uring-edge" ? "#c51b8a" : \
  s eq "rasio-uring-level" ? "#f768a1" : s eq "rasio-net-uring" ? "#3f007d" : \
  s eq "uv-poll" ? "#9ecae1" : s eq "uv-tcp" ? "#6baed6" : \
  s eq "event-level" ? "#c7e9c0" : s eq "event-et" ? "#a1d99b" : \
  s eq "ev" ? "#bcbddc" : "#969696"

plot for [i = 1:words(servers)] datafile using (column(i + 1)):xtic(1) \
  title word(servers, i) lc rgb colour(word(servers, i))
