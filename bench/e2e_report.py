#!/usr/bin/env python3
"""The report of bench/e2e.sh: e2e_report.py TSV NCPU.

Prints every measurement, the medians per cell (cores x workers) with the CPU
per process of the median round, CPU per intent per process, and the
verdicts of issue 19's goals 5 (>= 100k intents/s sustained with p99 commit
-> receipt < 1 s, judged on the producers throttled to 100k/s; at half the
highest sustained single-intent rate, receipt p99 <= commit p99 + 5 ms).
"""
import csv
import re
import statistics
import sys

RATE_GOAL = 100000
P99_GOAL_MS = 1000.0
CATCHUP_MS = 1000.0  # sustained: the consumer caught up within this after the producers stopped
EXTRA_GOAL_MS = 5.0
KEEP_UP = 0.98  # offered: appended and received within 2% of the offered rate


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def median(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def cores_key(c):
    return 1e9 if c == "all" else int(c)


def cpu_us(cpu):
    """'cat=12% (10%, 3.4us), ...' -> {cat: us per intent}"""
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"([\w:-]+)=\d+% \(\d+%, ([\d.]+)us\)", cpu)}


def table(title, rows, columns):
    """A markdown table of every row: columns = [(heading, TSV field)]; the last one left-aligned."""
    print("### " + title)
    print()
    print("| " + " | ".join(h for h, _ in columns) + " |")
    print("|" + "---:|" * (len(columns) - 1) + "---|")
    for r in rows:
        print("| " + " | ".join(r[k] for _, k in columns) + " |")
    print()


def main():
    rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
    ncpu = int(sys.argv[2])
    sustained = [r for r in rows if r["part"] == "sustained"]

    table("Sustained: batch appends, worker(s) and consumer(s) at once (every measurement)", sustained, [
        ("round", "round"), ("cores", "cores"), ("workers", "workers"), ("appended /s", "appended_per_s"),
        ("received /s", "received_per_s"), ("events", "received"), ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"),
        ("max ms", "max_ms"), ("behind at end", "behind_at_end"), ("caught up ms", "catchup_ms"), ("load, steal", "load1"),
        ("bottleneck", "bottleneck")])

    cells = sorted({(r["cores"], r["workers"]) for r in sustained}, key=lambda c: (cores_key(c[0]), int(c[1])))
    med = {}
    print("### Scaling matrix: medians over the rounds (CPU of the round with the median receipt rate,"
          " in % of one core: category=total (busiest single process or thread, CPU per intent))")
    print()
    print("| cores | workers | rounds | appended /s | received /s | p50 ms | p99 ms | max ms | caught up ms | CPU per process |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for c in cells:
        rs = [r for r in sustained if (r["cores"], r["workers"]) == c]
        recv = median([num(r["received_per_s"]) for r in rs])
        mid = min(rs, key=lambda r: abs(num(r["received_per_s"]) - recv))
        med[c] = dict(appended=median([num(r["appended_per_s"]) for r in rs]), received=recv,
                      p50=median([num(r["p50_ms"]) for r in rs]), p99=median([num(r["p99_ms"]) for r in rs]),
                      max=median([num(r["max_ms"]) for r in rs]),
                      catchup=median([num(r["catchup_ms"]) for r in rs]), mid=mid, rounds=len(rs))
        m = med[c]
        print("| %s | %s | %d | %.0f | %.0f | %.2f | %.2f | %.2f | %.0f | %s |" % (
            c[0], c[1], m["rounds"], m["appended"], m["received"], m["p50"], m["p99"], m["max"], m["catchup"],
            mid["cpu"]))
    print()
    if med:
        cats = sorted({k for c in cells for r in sustained if (r["cores"], r["workers"]) == c
                       for k in cpu_us(r["cpu"])})
        print("### CPU per intent, µs (median over the rounds of each cell)")
        print()
        print("| cores | workers | " + " | ".join(cats) + " |")
        print("|---:|---:|" + "---:|" * len(cats))
        for c in cells:
            rs = [r for r in sustained if (r["cores"], r["workers"]) == c]
            vals = [median([cpu_us(r["cpu"]).get(k, float("nan")) for r in rs]) for k in cats]
            print("| %s | %s | " % c + " | ".join("%.2f" % v if v == v else "-" for v in vals) + " |")
        print()
        print("(per intent appended; the delivery side (pg-backend:worker, worker, tail, stamper) per intent received. pg-backend:pgbench: the appending backends; pg-backend:worker: the worker's fetches, cursor and"
              " lease commits; pg-background: walwriter, checkpointer, maintenance, ...; worker-thread: the"
              " busiest thread is the one that counts, the column sums all threads like worker)")
        print()

    offered = [r for r in rows if r["part"] == "offered"]
    sustains = {}
    if offered:
        table("Offered rates: the producers throttled (pgbench -R) to a fixed intent rate, all cores, 1 worker",
              offered, [("round", "round"), ("offered /s", "offered"), ("appended /s", "appended_per_s"),
                        ("received /s", "received_per_s"), ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"),
                        ("max ms", "max_ms"), ("behind at end", "behind_at_end"), ("caught up ms", "catchup_ms"),
                        ("load, steal", "load1"), ("CPU per process", "cpu")])
        print("Medians over the rounds; sustained = appended and received >= %.0f%% of the offered rate, p99 < %.0f ms"
              " and caught up < %.0f ms after the producers stopped." % (KEEP_UP * 100, P99_GOAL_MS, CATCHUP_MS))
        print()
        print("| offered /s | rounds | appended /s | received /s | p99 ms | caught up ms | sustained |")
        print("|---:|---:|---:|---:|---:|---:|---|")
        for rate in sorted({int(r["offered"]) for r in offered}, reverse=True):
            rs = [r for r in offered if int(r["offered"]) == rate]
            m = dict(appended=median([num(r["appended_per_s"]) for r in rs]),
                     received=median([num(r["received_per_s"]) for r in rs]),
                     p99=median([num(r["p99_ms"]) for r in rs]), catchup=median([num(r["catchup_ms"]) for r in rs]))
            m["ok"] = (m["appended"] >= KEEP_UP * rate and m["received"] >= KEEP_UP * rate and m["p99"] < P99_GOAL_MS
                       and m["catchup"] < CATCHUP_MS)
            recv = m["received"]
            m["mid"] = min(rs, key=lambda r: abs(num(r["received_per_s"]) - recv))
            sustains[rate] = m
            print("| %d | %d | %.0f | %.0f | %.2f | %.0f | %s |" % (
                rate, len(rs), m["appended"], m["received"], m["p99"], m["catchup"], "yes" if m["ok"] else "no"))
        print()

    print("### Verdicts")
    print()
    if RATE_GOAL in sustains:
        m = sustains[RATE_GOAL]
        ok = [rate for rate, x in sustains.items() if x["ok"]]
        print("- goal 5a, >= %d intents/s sustained with p99 commit -> receipt < 1 s (producers throttled to %d/s,"
              " all %d cores, 1 worker, medians): appended %.0f/s, received %.0f/s, p99 %.2f ms, caught up %.0f ms"
              " after the producers stopped: **%s**; highest offered rate sustained: %s" % (
                  RATE_GOAL, RATE_GOAL, ncpu, m["appended"], m["received"], m["p99"], m["catchup"],
                  "MET" if m["ok"] else "MISSED", "%d/s" % max(ok) if ok else "none of %s" % sorted(sustains)))
        if not m["ok"]:
            print("  - where the time goes (median round at %d/s): %s" % (RATE_GOAL, m["mid"]["cpu"]))
    else:
        print("- goal 5a: NOT MEASURED (no offered rate of %d/s)" % RATE_GOAL)
    one = [c for c in cells if c[1] == "1"]
    if one:
        c = max(one, key=lambda c: cores_key(c[0]))
        m = med[c]
        print("- unthrottled producers (%s cores, 1 worker, medians; they take the CPU the delivery side needs, so"
              " this is the highest append rate, not a sustained one): appended %.0f/s, received %.0f/s, p99 %.2f ms,"
              " consumer caught up %.0f ms after the producers stopped" % (
                  c[0] if c[0] != "all" else "all %d" % ncpu, m["appended"], m["received"], m["p99"], m["catchup"]))
        print("  - where the time goes (median round): %s; %s" % (m["mid"]["cpu"], m["mid"]["bottleneck"]))

    smax = [r for r in rows if r["part"] == "single-max"]
    commit = {r["round"]: r for r in rows if r["part"] == "single-half-commit"}
    e2e = {r["round"]: r for r in rows if r["part"] == "single-half-e2e"}
    if commit and e2e:
        if smax:
            s = smax[0]
            print("- highest sustained single-intent rate (unthrottled, %s clients, 1 worker): appended %s/s, received"
                  " %s/s, p99 %s ms" % (s["clients"], s["appended_per_s"], s["received_per_s"], s["p99_ms"]))
        else:
            print("- single intents at the fixed rate of --single-rate, not at half the highest sustained rate")
        print()
        print("| round | offered /s | commit alone: achieved /s | commit alone p99 ms | with worker: achieved /s "
              "| commit p99 ms (same run) | commit -> receipt p99 ms | receipt p99 - commit-alone p99 ms | load, steal |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        diffs = []
        for rnd in sorted(set(commit) & set(e2e), key=int):
            a, b = commit[rnd], e2e[rnd]
            d = num(b["p99_ms"]) - num(a["commit_p99_ms"])
            diffs.append(d)
            print("| %s | %s | %s | %s | %s | %s | %s | %.2f | %s/%s |" % (
                rnd, a["offered"], a["appended_per_s"], a["commit_p99_ms"], b["appended_per_s"], b["commit_p99_ms"],
                b["p99_ms"], d, a["load1"], b["load1"]))
        md = median(diffs)
        print()
        if not smax:
            print("- goal 5b: NOT JUDGED (fixed rate); median of the per-round differences %.2f ms" % md)
            return
        print("- goal 5b, at half the highest sustained single-intent rate receipt p99 <= commit p99 + %.0f ms:"
              " median of the per-round differences %.2f ms: **%s**" % (EXTRA_GOAL_MS, md,
                                                                      "MET" if md <= EXTRA_GOAL_MS else "MISSED"))
    else:
        print("- goal 5b: NOT MEASURED")


if __name__ == "__main__":
    main()
