#!/usr/bin/env bash
# Two workers serving one group over several domains: each domain's
# partitions are split evenly between them, renewed with one
# intentlog.lease_acquire_all call per group (not one call per domain); when
# one worker is killed with -9, the other takes every domain's partitions over
# after the lease expires. A domain dropped under the survivor fails its own
# renewal only: the group's other domains keep their leases.
source "$(dirname "$0")/lib/common.sh"

DOMAINS="la:8 lb:3 lc:5"
make_db
# Calls per function, for the one-call-per-group check below.
q -c "ALTER DATABASE $TEST_DB SET track_functions = 'all'"
for dp in $DOMAINS; do
  q -c "SELECT intentlog.create_domain('${dp%:*}', partitions => ${dp#*:})" >/dev/null
done
TTL=1500
start_worker wa --lease-ttl-ms $TTL
WA=$WORKER_PID
start_worker wb --lease-ttl-ms $TTL
doms=(--domain la --domain lb --domain lc)
start_tail "$SCRATCH/a.jsonl" --connect "$(sock wa)" --group crunch "${doms[@]}" --client-name on-a
start_tail "$SCRATCH/b.jsonl" --connect "$(sock wb)" --group crunch "${doms[@]}" --client-name on-b

# split: per domain, "name:count-of-wa/count-of-wb" of the live leases.
split() {
  q -c "SELECT string_agg(name || ':' || a || '/' || b, ' ' ORDER BY name)
          FROM (SELECT d.name, count(*) FILTER (WHERE l.worker_id = 'wa') a, count(*) FILTER (WHERE l.worker_id = 'wb') b
                  FROM intentlog.domains d
                  LEFT JOIN intentlog.leases l ON l.domain_id = d.domain_id AND l.expires_at > now()
                 GROUP BY d.name) s"
}
# even: every domain's partitions all held, the two shares at most one apart.
even() {
  [ "$(q -c "SELECT bool_and(n = d.partitions AND a > 0 AND b > 0 AND abs(a - b) <= 1)
               FROM (SELECT l.domain_id, count(*) n, count(*) FILTER (WHERE l.worker_id = 'wa') a,
                            count(*) FILTER (WHERE l.worker_id = 'wb') b
                       FROM intentlog.leases l WHERE l.expires_at > now() GROUP BY 1) s
               JOIN intentlog.domains d USING (domain_id)")" = t ] &&
    [ "$(q -c "SELECT count(DISTINCT domain_id) FROM intentlog.leases")" = 3 ]
}
for _ in $(seq 100); do even && break; sleep 0.1; done
even || fail "partitions not split evenly between the workers: $(split)"
echo "leases: $(split)"

# per_domain FILE...: splits consumer outputs into FILE.DOMAIN, one per domain.
per_domain() {
  $PY - "$@" <<'PY'
import json, sys
for path in sys.argv[1:]:
    outs = {}
    for line in open(path):
        if line.strip():
            d = json.loads(line).get("domain", "-")
            outs.setdefault(d, []).append(line)
    for d in ("la", "lb", "lc"):
        open(f"{path}.{d}", "w").writelines(outs.get(d, []))
PY
}
append_all() {  # append_all PREFIX N: N intents to every domain
  for dp in $DOMAINS; do
    q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('${dp%:*}', '$1-' || i, 'run')
                                  FROM generate_series(1, $2) i) s" >/dev/null
  done
}
# delivered [OPTIONS]: every domain's intents reached the consumers.
delivered() {
  local dp d
  per_domain "$SCRATCH/a.jsonl" "$SCRATCH/b.jsonl"
  for dp in $DOMAINS; do
    d=${dp%:*}
    expected_intents "$d" "$SCRATCH/expected.$d"
    check --expected "$SCRATCH/expected.$d" "$@" "$SCRATCH/a.jsonl.$d" "$SCRATCH/b.jsonl.$d" || return 1
  done
}

append_all job 500
for _ in $(seq 200); do
  [ $(( $(wc -l <"$SCRATCH/a.jsonl") + $(wc -l <"$SCRATCH/b.jsonl") )) -ge 1500 ] && break
  sleep 0.1
done
delivered --strict --disjoint || fail "the two workers did not split every domain's partitions"

# Renewals: one lease_acquire_all per worker and group every third of the
# lease time, never one lease_acquire per domain. (Backends report their
# function counts when idle, at most once a second.)
sleep 2
calls() {
  q -c "SELECT coalesce(sum(calls) FILTER (WHERE funcname = 'lease_acquire_all'), 0) || ' '
               || coalesce(sum(calls) FILTER (WHERE funcname = 'lease_acquire'), 0)
          FROM pg_stat_user_functions WHERE schemaname = 'intentlog'"
}
read -r all one <<<"$(calls)"
echo "calls so far: lease_acquire_all $all, lease_acquire $one"
[ "$all" -gt 0 ] || fail "the workers never called intentlog.lease_acquire_all"
[ "$one" = 0 ] || fail "the workers renewed domain by domain ($one intentlog.lease_acquire calls)"

# Worker a dies; the consumer on b gets a's partitions of every domain once
# the leases expired.
kill -9 "$WA"
append_all after 300
start=$(date +%s%N)
for _ in $(seq 200); do
  [ "$(q -c "SELECT count(DISTINCT worker_id) || ':' || count(*) FROM intentlog.leases WHERE expires_at > now()")" = "1:16" ] && break
  sleep 0.1
done
[ "$(split)" = "la:0/8 lb:0/3 lc:0/5" ] || fail "wb did not take every partition over: $(split)"
for _ in $(seq 300); do delivered >/dev/null 2>&1 && break; sleep 0.1; done
echo "takeover of 3 domains and catch-up took $(( ($(date +%s%N) - start) / 1000000 )) ms (lease ttl $TTL ms)"
delivered || fail "intents of the dead worker's partitions were not delivered by the survivor"

# A domain dropped under the worker: its renewals fail (logged for it alone),
# the others' go on.
q -c "SELECT intentlog.drop_domain('lc')" >/dev/null
before=$(q -c "SELECT max(expires_at) FROM intentlog.leases")
for _ in $(seq 100); do
  grep -q 'event=lease_failed group=crunch domain=lc' "$SCRATCH/worker-wb.log" && break
  sleep 0.1
done
grep -q 'event=lease_failed group=crunch domain=lc' "$SCRATCH/worker-wb.log" \
  || fail "no lease_failed for the dropped domain"
sleep $((TTL * 2 / 1000 + 1))
[ "$(q -c "SELECT min(expires_at) > '$before' FROM intentlog.leases")" = t ] \
  || fail "the other domains' leases were not renewed after lc was dropped: $(split)"
[ "$(split)" = "la:0/8 lb:0/3" ] || fail "wb lost leases of the other domains: $(split)"
! grep -E 'event=(lease_failed|leases_expired) group=crunch domain=l[ab]' "$SCRATCH/worker-wb.log" \
  || fail "a renewal of another domain failed"
echo "PASS: several domains' leases split and renewed per group; a dead worker's partitions were taken over"
