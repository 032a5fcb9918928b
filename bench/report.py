#!/usr/bin/env python3
"""Markdown report of bench/append.sh: medians of the rounds and per-round ratios.

usage: report.py results.tsv [machine.txt]
"""
import csv
import statistics
import sys
from collections import defaultdict

SHAPES = {
    "single": "(a) one intent per transaction",
    "app": "(b) app transaction: UPDATE of a row + one intent",
    "batch": "(c) 100 intents per transaction",
}
LABELS = {
    "durable": ("intentlog durable: intent_append", "intentlog durable: intent_append_batch(100)"),
    "staged": ("intentlog staged: intent_append", "intentlog staged: intent_append_batch(100)"),
    "plain": ("baseline: INSERT into logged outbox", "baseline: multi-row INSERT (100) into logged outbox"),
    "unlogged": ("baseline: INSERT into UNLOGGED outbox", "baseline: multi-row INSERT (100) into UNLOGGED outbox"),
    "pgq": ("baseline: PgQ pgq.insert_event", "baseline: PgQ pgq.insert_event x100"),
}
# (candidate, baseline, goal for single/app, goal for batch); None = no goal, shown for information.
RATIOS = [
    ("durable", "plain", 1.0, 0.8),
    ("durable", "pgq", 1.2, None),
    ("staged", "unlogged", 0.95, 0.8),
    ("staged", "plain", None, None),
]


def label(variant, shape):
    return LABELS.get(variant, (variant, variant))[1 if shape == "batch" else 0]


def machine_nproc(machine):
    for line in machine.splitlines():
        if line.startswith("nproc="):
            return line.split("=", 1)[1]
    return "?"


def fmt_tps(x):
    return f"{x:,.0f}"


def main():
    rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
    machine = open(sys.argv[2]).read().strip() if len(sys.argv) > 2 else ""
    tps = defaultdict(dict)  # (shape, clients, variant) -> {round: tps}
    per_txn = {}
    for r in rows:
        key = (r["shape"], int(r["clients"]), r["variant"])
        tps[key][int(r["round"])] = float(r["tps"])
        per_txn[r["shape"]] = int(r["intents_per_txn"])
    shapes = [s for s in SHAPES if any(k[0] == s for k in tps)] + sorted({k[0] for k in tps} - set(SHAPES))
    clients = sorted({k[1] for k in tps})
    variants = []
    for k in tps:
        if k[2] not in variants:
            variants.append(k[2])
    variants.sort(key=lambda v: list(LABELS).index(v) if v in LABELS else 99)
    rounds = sorted({int(r["round"]) for r in rows})

    out = []
    out.append("## intentlog append benchmark")
    out.append("")
    if machine:
        out.append("```")
        out.append(machine)
        out.append("```")
        out.append("")
    loads = [float(r["loadavg1"]) for r in rows if r.get("loadavg1")]
    if loads:
        out.append(f"1-min load average at the start of the runs: median {statistics.median(loads):.1f}, "
                   f"max {max(loads):.1f} (nproc {machine_nproc(machine)}).")
        out.append("")
    out.append(f"Throughput: median over {len(rounds)} rounds (per-round TPS in brackets).")
    out.append("")
    out.append("| shape | clients | variant | TPS | intents/s | per-round TPS |")
    out.append("|---|---:|---|---:|---:|---|")
    for s in shapes:
        for c in clients:
            for v in variants:
                d = tps.get((s, c, v))
                if not d:
                    continue
                med = statistics.median(d.values())
                per = ", ".join(fmt_tps(d[r]) for r in sorted(d))
                out.append(f"| {s} | {c} | {label(v, s)} | {fmt_tps(med)} | {fmt_tps(med * per_txn[s])} | [{per}] |")
    out.append("")
    out.append("Ratios candidate / baseline: computed per round (same round, same cell, run back to back), "
               "then the median of those. Goals from issue 6.")
    out.append("")
    out.append("| shape | clients | ratio | per round | median | goal | verdict |")
    out.append("|---|---:|---|---|---:|---:|---|")
    missed = []
    for s in shapes:
        for c in clients:
            for cand, base, goal_one, goal_batch in RATIOS:
                a, b = tps.get((s, c, cand)), tps.get((s, c, base))
                if not a or not b:
                    continue
                common = sorted(set(a) & set(b))
                ratios = [a[r] / b[r] for r in common]
                med = statistics.median(ratios)
                goal = goal_batch if s == "batch" else goal_one
                # Two decimals, or three where two would round a miss up to the goal.
                med_s = f"{med:.3f}" if goal is not None and med < goal <= round(med, 2) else f"{med:.2f}"
                if goal is None:
                    verdict, goal_s = "(info)", "—"
                else:
                    goal_s = f"≥ {goal:.2f}"
                    verdict = "met" if med >= goal else "MISSED"
                    if med < goal:
                        missed.append(f"{s} c={c} {cand}/{base} = {med_s} (goal {goal:.2f})")
                per = ", ".join(f"{x:.2f}" for x in ratios)
                out.append(f"| {s} | {c} | {cand} / {base} | [{per}] | {med_s} | {goal_s} | {verdict} |")
    out.append("")
    if missed:
        out.append("Goals missed: " + "; ".join(missed) + ".")
    else:
        out.append("All ratio goals met.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
