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
    "durable_async": ("baseline: intentlog durable: intent_append, synchronous_commit = off",
                      "baseline: intentlog durable: intent_append_batch(100), synchronous_commit = off"),
    "emit": ("limit: pg_logical_emit_message(true, ...) of key, op, payload",
             "limit: pg_logical_emit_message(true, ...) x100 of key, op, payload"),
    "none": ("baseline: the app transaction alone (BEGIN; UPDATE; END), no intent", "none"),
}
# (issue, shapes, candidate, baseline, goal, clients the goal is judged at or None for any);
# goal None = no goal, shown for information. Issue 19 replaced issue 6's staged / UNLOGGED goal
# (0.95, batch 0.8) with 0.9 in every shape and judges its goals at 8 clients.
ALL = ("single", "app", "batch")
GOALS = [
    ("19", ("single",), "staged", "durable_async", 1.0, 8),
    ("19", ALL, "staged", "durable", 1.0, 8),
    ("19", ALL, "staged", "unlogged", 0.9, 8),
    ("19", ("batch",), "durable", "emit", 0.5, 8),
    ("19", ("single",), "durable", "emit", 1.0, 8),
    ("19", ("app",), "durable", "none", 0.8, 8),
    ("6 (kept)", ("single", "app"), "durable", "plain", 1.0, None),
    ("6 (kept)", ("batch",), "durable", "plain", 0.8, None),
    ("6", ("single", "app"), "durable", "pgq", 1.2, None),
    ("6", ("batch",), "durable", "pgq", None, None),
    ("info", ALL, "staged", "plain", None, None),
    ("info", ALL, "durable_async", "durable", None, None),
    ("info", ALL, "unlogged", "plain", None, None),
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


def med_of(rows, field):
    vals = [float(r[field]) for r in rows if r.get(field) not in (None, "")]
    return statistics.median(vals) if vals else None


def bytes_section(rows, shapes, clients, variants):
    """WAL, heap and index bytes per intent (medians of the runs), from results.tsv's byte columns."""
    if not rows or "wal_bytes" not in rows[0]:
        return []
    out = ["", "Bytes written per intent: WAL = median over the rounds of pg_current_wal_lsn() after the run "
           "(staged: after the promotion of its tail) minus before, divided by the intents appended; heap and "
           "index = the growth over all rounds (sizes grow by whole pages) of pg_relation_size / pg_indexes_size of the variant's tables (intentlog: the "
           "domain's logged segments; baselines: the outbox table; emit and none: no table). "
           "In the app shape the WAL per transaction includes the UPDATE (compare with `none`). "
           "staged: promotion time of the tail = the seconds bench_promote_all took after pgbench ended, "
           "added to the run's time (it includes waiting for a promotion the maintenance worker has under "
           "way, whose rows it then does not move itself), and the rows it moved. Heap growth per run is lumpy (a heap under "
           "concurrent inserts is extended by many pages at once): the header's 'bytes per row at the end' "
           "divides the final sizes by the rows.", "",
           "| shape | clients | variant | WAL B/txn | WAL B/intent | heap B/intent | index B/intent | of which xid index | staged: tail promotion s | tail rows moved by bench_promote_all |",
           "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in shapes:
        for c in clients:
            for v in variants:
                rs = [r for r in rows if r["shape"] == s and int(r["clients"]) == c and r["variant"] == v]
                if not rs:
                    continue
                per = int(rs[0]["intents_per_txn"]) if v != "none" else 0
                def per_intent(r, f):
                    return float(r[f]) / (float(r["txns"]) * per) if per else None
                def med(f):
                    xs = [x for x in (per_intent(r, f) for r in rs) if x is not None]
                    return statistics.median(xs) if xs else None
                def total(f):  # relation sizes grow by whole pages: all rounds together
                    return sum(float(r[f]) for r in rs) / sum(float(r["txns"]) * per for r in rs) if per else None
                wal_txn = statistics.median(float(r["wal_bytes"]) / float(r["txns"]) for r in rs)
                fmt = lambda x: "—" if x is None else f"{x:,.0f}"
                has_table = v in ("durable", "durable_async", "staged", "plain", "unlogged")
                heap, idx, xidx = (total("heap_bytes"), total("index_bytes"), total("xid_index_bytes")) if has_table else (None,) * 3
                promo = med_of(rs, "promote_s") if v == "staged" else None
                prow = [float(r["promote_rows"]) for r in rs if v == "staged" and r.get("promote_rows") not in (None, "")]
                out.append(f"| {s} | {c} | {v} | {wal_txn:,.0f} | {fmt(med('wal_bytes'))} | {fmt(heap)} | {fmt(idx)} | "
                           f"{fmt(xidx)} | {'—' if promo is None else f'{promo:.3f}'} | {f'{statistics.median(prow):,.0f}' if prow else '—'} |")
    return out


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
        per_round = []
        for rd in rounds:
            lr = [float(r["loadavg1"]) for r in rows if int(r["round"]) == rd and r.get("loadavg1")]
            if lr:
                per_round.append(f"{statistics.median(lr):.1f}")
        out.append(f"Median 1-min load average per round: [{', '.join(per_round)}].")
        out.append("")
    out.append(f"Throughput: median over {len(rounds)} rounds (per-round TPS in brackets). staged: transactions "
               "divided by the run's time plus the time the promotion of its tail took after pgbench ended "
               "(results.tsv: pgbench_tps is pgbench's own figure).")
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
               "then the median of those. Goals of issue 19 (judged at 8 clients) and the goals of issue 6 "
               "still held; `info` rows have no goal.")
    out.append("")
    out.append("| issue | shape | clients | ratio | per round | median | goal | verdict |")
    out.append("|---|---|---:|---|---|---:|---:|---|")
    missed, met = [], []
    for issue, goal_shapes, cand, base, goal, at_clients in GOALS:
        for s in shapes:
            if s not in goal_shapes:
                continue
            for c in clients:
                a, b = tps.get((s, c, cand)), tps.get((s, c, base))
                if not a or not b:
                    continue
                common = sorted(set(a) & set(b))
                if not common:
                    continue
                ratios = [a[r] / b[r] for r in common]
                med = statistics.median(ratios)
                g = goal if at_clients is None or at_clients == c else None
                # Two decimals, or three where two would round a miss up to the goal.
                med_s = f"{med:.3f}" if g is not None and med < g <= round(med, 2) else f"{med:.2f}"
                name = f"{s} c={c} {cand} / {base}"
                if g is None:
                    verdict, goal_s = "(info)", "—" if goal is None else f"(≥ {goal:.2f} at c={at_clients})"
                else:
                    goal_s = f"≥ {g:.2f}"
                    verdict = "MET" if med >= g else "MISSED"
                    (met if med >= g else missed).append(f"{name} = {med_s} (goal {g:.2f}, issue {issue})")
                per = ", ".join(f"{x:.2f}" for x in ratios)
                out.append(f"| {issue} | {s} | {c} | {cand} / {base} | [{per}] | {med_s} | {goal_s} | {verdict} |")
    out.append("")
    out.append("Goals met: " + ("; ".join(met) if met else "none") + ".")
    out.append("")
    out.append("Goals missed: " + ("; ".join(missed) if missed else "none") + ".")
    out.extend(bytes_section(rows, shapes, clients, variants))
    print("\n".join(out))


if __name__ == "__main__":
    main()
