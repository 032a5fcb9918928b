#!/usr/bin/env python3
"""Per-statement cost of each function: (cost in B - cost in A) / N, from two callgrind files.

usage: cg_diff.py A.cg B.cg N [--self] [--top 40] [--match REGEX]

A and B ran the same statement N0 and N0+N times (bench/profile_append.sh), so
the difference is what N statements cost, without start-up and warm-up.
Inclusive costs by default (a function and everything it calls), --self for
exclusive ones.
"""
import argparse
import re
import subprocess
from collections import defaultdict

LINE = re.compile(r"^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.*)$")


def costs(path, inclusive):
    out = subprocess.run(
        ["callgrind_annotate", "--auto=no", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100", path],
        capture_output=True, text=True, check=True).stdout
    res = defaultdict(int)
    for line in out.splitlines():
        m = LINE.match(line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = m.group(2)
        # "file:function [object]" -> "function [object basename]"
        obj = ""
        if name.endswith("]") and " [" in name:
            name, obj = name.rsplit(" [", 1)
            obj = obj[:-1].rsplit("/", 1)[-1]
        func = name.split(":", 1)[1] if ":" in name else name
        if re.search(r"'\d+$", func):
            if inclusive:
                continue  # a recursion level: already inside the outer call's inclusive cost
            func = re.sub(r"'\d+$", "", func)  # self costs: add the recursion levels up
        res[(func, obj)] += int(m.group(1).replace(",", ""))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("n", type=int)
    ap.add_argument("--self", action="store_true")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--match")
    args = ap.parse_args()
    inclusive = not args.self
    a, b = costs(args.a, inclusive), costs(args.b, inclusive)
    rows = []
    for k in set(a) | set(b):
        d = (b.get(k, 0) - a.get(k, 0)) / args.n
        if args.match and not re.search(args.match, k[0]):
            continue
        rows.append((d, k))
    rows.sort(reverse=True)
    kind = "inclusive" if inclusive else "self"
    print(f"| {kind} Ir per statement | function | object |")
    print("|---:|---|---|")
    for d, (func, obj) in rows[: args.top]:
        if d <= 0:
            break
        print(f"| {d:,.0f} | {func} | {obj} |")


if __name__ == "__main__":
    main()
