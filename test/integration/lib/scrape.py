"""Scrapes a worker's /metrics and parses it with prometheus_client's parser
(Debian's python3-prometheus-client; not ours). Prints one line per sample,
"name{k=v,...} value", sorted, or exits 1 if the scrape or the parse fails.

  scrape.py URL                 every sample
  scrape.py URL NAME [k=v ...]  the sum of NAME's samples whose labels match
                                (0 if none), for counters summed over labels
"""
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def samples(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        ctype = r.headers.get("Content-Type", "")
        if not ctype.startswith("text/plain"):
            sys.exit(f"unexpected Content-Type {ctype!r}")
        text = r.read().decode("utf-8")
    out = []
    for family in text_string_to_metric_families(text):
        if family.type == "untyped":
            sys.exit(f"sample {family.name} has no # TYPE (the parser saw it as untyped)")
        for s in family.samples:
            out.append((s.name, dict(s.labels), s.value))
    return out


def main():
    url = sys.argv[1]
    got = samples(url)
    if len(sys.argv) == 2:
        for name, labels, value in sorted(got, key=lambda t: (t[0], sorted(t[1].items()))):
            print(name + "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "} " + repr(value))
        return
    want = sys.argv[2]
    match = dict(a.split("=", 1) for a in sys.argv[3:])
    total = sum(v for n, l, v in got if n == want and all(l.get(k) == v2 for k, v2 in match.items()))
    print(int(total) if total == int(total) else total)


if __name__ == "__main__":
    main()
