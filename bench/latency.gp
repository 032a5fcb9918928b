# Latency-percentile plot of a bench/latency.sh run (re-plot a stored run with):
#   gnuplot -e "data='bench/results/X-latency.tsv'; out='X.png'; maxrate=3000; subtitle='...'" bench/latency.gp
# One line per percentile across the offered rates (the "rate" rows of the
# TSV), latency on a log scale, the goals of issue 6 as marks.
if (!exists("subtitle")) subtitle = ""
set terminal pngcairo size 1100,700 font "sans,11" enhanced
set output out
set datafile separator "\t"
set datafile missing "nan"
set title "intentlog end-to-end latency, commit → consumer receipt\n{/*0.8 ".subtitle."}"
set xlabel "offered rate (intents/s, pgbench -R)"
set ylabel "latency (ms, log scale)"
set logscale y
set format y "%g"
set grid xtics ytics mytics lc rgb "#dddddd"
set key top left box opaque
set xrange [0:maxrate * 1.08]
# Room above the 1 s goal and below the lowest p50, whatever the run measured.
stats data skip 1 using 7 nooutput
ylo = STATS_min
stats data skip 1 using 11 nooutput
yhi = STATS_max
set yrange [(ylo / 2 < 1 ? ylo / 2 : 1) : (yhi * 2 > 2000 ? yhi * 2 : 2000)]
set x2range [0:maxrate * 1.08]
set x2tics ("50%% of max" maxrate * 0.5, "max sustained" maxrate) textcolor rgb "#555555"
set arrow from maxrate * 0.5, graph 0 to maxrate * 0.5, graph 1 nohead dt 3 lc rgb "#888888"
set arrow from maxrate, graph 0 to maxrate, graph 1 nohead dt 3 lc rgb "#888888"
# Goals: p99 < 50 ms at half the highest sustained rate, < 1 s at it.
set label 1 " goal p99 < 50 ms" at maxrate * 0.5, 50 point pt 9 ps 2 lc rgb "#c00000" tc rgb "#c00000" offset 0.5,0
set label 2 " goal p99 < 1 s" at maxrate, 1000 point pt 9 ps 2 lc rgb "#c00000" tc rgb "#c00000" right offset -1.5,0
rate(k) = (strcol(1) eq "rate") ? column(k) : NaN
# Where pgbench fell short of the offered rate, say what it achieved.
short(s) = (strcol(1) eq "rate" && column(4) < 0.95 * column(3)) ? sprintf("achieved %d/s", column(4)) : ""
plot data skip 1 using 3:(rate(7))  with linespoints lw 2 pt 7 title "p50", \
     ''   skip 1 using 3:(rate(8))  with linespoints lw 2 pt 5 title "p90", \
     ''   skip 1 using 3:(rate(9))  with linespoints lw 3 pt 13 lc rgb "#c00000" title "p99", \
     ''   skip 1 using 3:(rate(10)) with linespoints lw 2 pt 11 title "p99.9", \
     ''   skip 1 using 3:(rate(11)) with linespoints lw 1 dt 2 pt 6 lc rgb "#444444" title "max", \
     ''   skip 1 using 3:(rate(7) / 1.3):(short(0)) with labels rotate by 90 right font ",9" tc rgb "#555555" notitle
