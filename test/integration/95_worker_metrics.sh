#!/usr/bin/env bash
# --metrics: the worker serves the Prometheus text format at /metrics while it
# delivers, and Debian's prometheus_client parser (not ours) reads every
# family of it; anything but GET /metrics is refused; a non-TCP endpoint is
# refused at startup.
source "$(dirname "$0")/lib/common.sh"

make_db
q -c "SELECT intentlog.create_domain('jobs', partitions => 2)" >/dev/null
port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_worker w1 --metrics "tcp:127.0.0.1:$port"
url="http://127.0.0.1:$port/metrics"
scrape() { $PY "$LIB_DIR/scrape.py" "$url" "$@"; }

q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('jobs', 'k' || (i % 7), 'run') FROM generate_series(1, 50) i) s" >/dev/null
timeout 30 "$TAIL_BIN" --connect "$(sock w1)" --group g --domain jobs --limit 50 >"$SCRATCH/c.jsonl" 2>"$SCRATCH/c.err" ||
  fail "the consumer did not get 50 events: $(tail -2 "$SCRATCH/c.err")"

scrape >"$SCRATCH/all.txt" || fail "the scrape did not parse: $(cat "$SCRATCH/all.txt")"
rss=$(scrape process_resident_memory_bytes)
[ "$rss" -gt 1000000 ] || fail "process_resident_memory_bytes is $rss"
[ "$(scrape intentlog_worker_info worker_id=w1)" = 1 ] || fail "no intentlog_worker_info{worker_id=w1}: $(cat "$SCRATCH/all.txt")"
start=$(scrape process_start_time_seconds)
now=$(date +%s)
[ $((now - ${start%.*})) -ge 0 ] && [ $((now - ${start%.*})) -lt 600 ] || fail "process_start_time_seconds $start, now $now"

code=$($PY -c "import urllib.request, urllib.error
try: print(urllib.request.urlopen('http://127.0.0.1:$port/').status)
except urllib.error.HTTPError as e: print(e.code)")
[ "$code" = 404 ] || fail "GET / answered $code, expected 404"

if "$WORKER_BIN" --db "dbname=$TEST_DB" --listen "unix:$SCRATCH/x.sock" --metrics "unix:$SCRATCH/m.sock" 2>"$SCRATCH/bad.err"; then
  fail "the worker started with --metrics unix:"
fi
grep -q 'tcp:HOST:PORT' "$SCRATCH/bad.err" || fail "no clear error for --metrics unix: $(cat "$SCRATCH/bad.err")"
echo "PASS: /metrics parsed by prometheus_client ($(wc -l <"$SCRATCH/all.txt") samples), RSS $rss bytes, 404 elsewhere"
