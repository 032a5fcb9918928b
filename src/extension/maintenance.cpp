#include "extension/maintenance.h"

#include "extension/domain_cache.h"
#include "extension/pg.h"
#include "extension/wakeup.h"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/twophase.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/wait_event.h"
}

namespace intentlog::pg {
namespace {

int naptime_ms = 200;
bool maintenance_enabled = true;
constexpr int kMaxDatabases = 64;
constexpr long kLauncherNaptimeMs = 2000;
// A database whose worker left (no intentlog there, or asked to leave) gets a
// new one this long after the last launch at the earliest.
constexpr long kRelaunchAfterMs = 10000;
// ... and this long after its worker was first seen gone: a DROP DATABASE that
// asked it to leave holds the database's lock by then, so a new worker cannot
// slip in before the drop counts the sessions still connected.
constexpr long kDeathGraceMs = 1000;

// What the launcher knows of one database.
struct DatabaseSlot {
  Oid db;
  BackgroundWorkerHandle* handle;  // nullptr: never launched (or could not be)
  TimestampTz launched_at;
  TimestampTz gone_since;  // 0 while the worker runs
};

void launch_worker_for(Oid dboid, BackgroundWorkerHandle** handle) {
  BackgroundWorker w;
  memset(&w, 0, sizeof(w));
  w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  w.bgw_start_time = BgWorkerStart_RecoveryFinished;
  w.bgw_restart_time = BGW_NEVER_RESTART;
  strlcpy(w.bgw_library_name, "intentlog", BGW_MAXLEN);
  strlcpy(w.bgw_function_name, "intentlog_maintenance_main", BGW_MAXLEN);
  snprintf(w.bgw_name, BGW_MAXLEN, "intentlog maintenance (db %u)", dboid);
  strlcpy(w.bgw_type, kMaintenanceWorkerType, BGW_MAXLEN);
  w.bgw_main_arg = ObjectIdGetDatum(dboid);
  w.bgw_notify_pid = MyProcPid;
  if (!RegisterDynamicBackgroundWorker(&w, handle)) *handle = nullptr;
}

bool worker_alive(BackgroundWorkerHandle* h) {
  pid_t pid;
  return h != nullptr && GetBackgroundWorkerPid(h, &pid) != BGWH_STOPPED;
}

using TransactionBody = void (*)(void* arg);

// Logs, at most once a minute, that maintenance gave up waiting for a lock
// (lock_timeout): the next round tries again, and a session holding a lock
// for an hour would otherwise be logged every round.
void note_lock_wait(const char* message, const char* activity) {
  static TimestampTz logged_at = 0;
  TimestampTz now = GetCurrentTimestamp();
  if (!TimestampDifferenceExceeds(logged_at, now, 60000)) return;
  logged_at = now;
  ereport(LOG, (errmsg("intentlog maintenance: %s", message),
                errdetail("%s: retried every round; this is logged at most once a minute.", activity),
                errhint("Another session holds a lock on the partition's tables (LOCK TABLE, CREATE INDEX, VACUUM "
                        "FULL, a transaction that called intentlog.maintain()).")));
}

// Compares dotted version numbers: "0.2" < "0.10" < "1.0". <0, 0 or >0.
int compare_versions(const char* a, const char* b) {
  for (;;) {
    char* end_a;
    char* end_b;
    const long x = strtol(a, &end_a, 10);
    const long y = strtol(b, &end_b, 10);
    if (x != y) return x < y ? -1 : 1;
    // The end, or something that is not a number: plain text order.
    if (end_a == a || end_b == b || *end_a != '.' || *end_b != '.') return strcmp(end_a, end_b);
    a = end_a + 1;
    b = end_b + 1;
  }
}

// Whether the database's installed SQL is this library's version. A worker
// says once (per installed version it meets) that they differ and what to do,
// instead of failing every round on functions that are not what this library
// expects; it says again once they match (ALTER EXTENSION intentlog UPDATE, or
// the server restarted with the matching library).
bool versions_match(const char* installed) {
  static char mismatch_noted[64] = "";
  const char* db = get_database_name(MyDatabaseId);
  if (strcmp(installed, kLibraryVersion) == 0) {
    if (mismatch_noted[0] != '\0')
      ereport(LOG, (errmsg("intentlog maintenance resumed in database \"%s\": the extension and the library are both "
                           "version %s",
                           db, kLibraryVersion)));
    mismatch_noted[0] = '\0';
    return true;
  }
  if (strcmp(mismatch_noted, installed) == 0) return false;
  strlcpy(mismatch_noted, installed, sizeof(mismatch_noted));
  if (compare_versions(installed, kLibraryVersion) < 0)
    ereport(
        WARNING,
        (errmsg("intentlog maintenance paused in database \"%s\": the extension's SQL is version %s, older than the "
                "loaded library (version %s)",
                db, installed, kLibraryVersion),
         errdetail("Until they match, staged domains are not promoted and segments are neither rotated nor dropped. "
                   "This is logged once."),
         errhint("Run ALTER EXTENSION intentlog UPDATE in database \"%s\"; maintenance resumes by itself.", db)));
  else
    ereport(
        WARNING,
        (errmsg("intentlog maintenance paused in database \"%s\": the extension's SQL is version %s, newer than the "
                "loaded library (version %s)",
                db, installed, kLibraryVersion),
         errdetail("Until they match, staged domains are not promoted and segments are neither rotated nor dropped. "
                   "This is logged once."),
         errhint("Install intentlog %s and restart the server: a running server keeps the library it started with.",
                 installed)));
  return false;
}

// Runs `body` (with SPI connected) in a transaction of its own; an error is
// logged and swallowed so that one bad partition or round never stops
// maintenance, nor undoes the other partitions' work.
bool in_transaction(const char* activity, TransactionBody body, void* arg) {
  volatile bool ok = true;
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  PushActiveSnapshot(GetTransactionSnapshot());
  pgstat_report_activity(STATE_RUNNING, activity);
  MemoryContext cxt = CurrentMemoryContext;
  PG_TRY();
  {
    SPI_connect();
    body(arg);
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(cxt);
    ErrorData* error = CopyErrorData();
    const bool lock_wait = error->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE;
    if (!lock_wait) EmitErrorReport();
    FlushErrorState();
    if (lock_wait) note_lock_wait(error->message, activity);
    FreeErrorData(error);
    AbortCurrentTransaction();
    ok = false;
  }
  PG_END_TRY();
  pgstat_report_activity(STATE_IDLE, nullptr);
  return ok;
}

// What a round costs follows activity, not the number of partitions. The
// worker keeps, per partition, what may need work, and gives a partition a
// transaction only then:
//   promote  staged and appended to (a commit stamped it in the wake-up shared
//            memory, wakeup.h) since a promotion check last found nothing to
//            move; checked every round, promoted when due;
//   active   appended to or promoted into since housekeeping last looked at
//            it: rotation by segment_rows is possible;
//   aged     its current segment is older than segment_age (read from the
//            catalog), unless housekeeping found it empty since the partition
//            was last active (then looked at again every 10 minutes only);
//   expired  it has a sealed segment past retention (read from the catalog),
//            looked at again after 1 s doubling to a minute while consumer
//            groups have not read past it.
// Housekeeping (about once a second) is one transaction: the version check,
// crash-gap detection, the partition list when intentlog.domains changed, and,
// when one may have become due, the catalog query for the aged and expired
// partitions: it also says when the next segment ages or expires, and runs
// again only then (or after a rotation or a drop, a changed intentlog.domains,
// and at least every kCatalogRecheckMs). Every partition is looked at once
// when the worker starts or first sees it, and every staged one again, for
// rows that reached a hot table without a stamp: every kFullSweepEveryMs while
// a two-phase transaction that appended may be pending (its COMMIT PREPARED
// stamps nothing), every kBackstopSweepEveryMs otherwise (a restore's COPY).
constexpr long kHousekeepingEveryMs = 1000;
constexpr long kCatalogRecheckMs = 60000;
constexpr long kFullSweepEveryMs = 10000;
constexpr long kBackstopSweepEveryMs = 60000;
constexpr long kRetainBackoffMinMs = 1000;
constexpr long kRetainBackoffMaxMs = 60000;
constexpr long kAgeRecheckMs = 600000;

struct PartitionState {
  int32 domain_id;
  int32 partition;
  bool staged;
  bool promote;
  bool active;
  TimestampTz age_recheck_at;  // found empty and older than segment_age, not active since: not before this
  TimestampTz retain_at;
  long retain_backoff_ms;
};

// One partition of a round, as maintain_partition gets it.
struct PartitionWork {
  int32 domain_id;
  int32 partition;
  bool housekeeping;  // rotation and retention too
  int state;          // index into Partitions::parts
  bool retention;     // looked at for an expired segment
  bool aged;          // its segment was older than segment_age
  // Results.
  int64 promoted;
  bool rotated;
  int dropped;
  bool lock_wait;
};

struct Partitions {
  uint64 generation;  // domains_generation() the list was read under; 0: never
  int n;
  PartitionState* parts;  // sorted by (domain_id, partition), in TopMemoryContext
  uint64 seen_tick;       // stamps up to this tick are merged into the flags
  TimestampTz housekept_at;
  TimestampTz catalog_at;      // housekeeping's catalog query runs again from then on; 0: next round
  TimestampTz sweep_check_at;  // when a sweep was last considered
  TimestampTz swept_at;
  uint64 swept_prepares;  // wakeup_prepares() at the last sweep
  bool prepared_pending;  // the last check found prepared transactions in this database
};

// What a round works through, filled by plan_round.
struct RoundPlan {
  bool extension_present;
  bool housekeeping;  // this round also looks at rotation and retention
  bool sweep;         // this round looks at every staged partition's promotion
  // What decided it (known.* takes them once the planning transaction commits).
  uint64 prepares;
  bool prepared_pending;
  int nwork;
  PartitionWork* work;  // in TopMemoryContext
  int capacity;
};

Partitions known = {0, 0, nullptr, 0, 0, 0, 0, 0, 0, false};

int find_state(int32 domain_id, int32 partition) {
  int lo = 0, hi = known.n - 1;
  while (lo <= hi) {
    const int mid = (lo + hi) / 2;
    const PartitionState& p = known.parts[mid];
    if (p.domain_id == domain_id && p.partition == partition) return mid;
    if (p.domain_id < domain_id || (p.domain_id == domain_id && p.partition < partition))
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

// Reads the partition list again (intentlog.domains changed). Partitions
// already known keep their state; new ones start with every flag set.
void refresh_partitions(uint64 generation) {
  int rc = SPI_execute(
      "SELECT p.domain_id, p.partition, d.durability = 'staged' FROM intentlog.partitions p"
      " JOIN intentlog.domains d USING (domain_id) ORDER BY 1, 2",
      true, 0);
  if (rc != SPI_OK_SELECT) elog(ERROR, "intentlog maintenance: cannot list partitions");
  auto* parts =
      static_cast<PartitionState*>(MemoryContextAlloc(TopMemoryContext, sizeof(PartitionState) * (SPI_processed + 1)));
  for (uint64 i = 0; i < SPI_processed; ++i) {
    HeapTuple row = SPI_tuptable->vals[i];
    bool isnull;
    PartitionState p;
    p.domain_id = DatumGetInt32(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull));
    p.partition = DatumGetInt32(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull));
    p.staged = DatumGetBool(SPI_getbinval(row, SPI_tuptable->tupdesc, 3, &isnull));
    const int old = find_state(p.domain_id, p.partition);
    if (old >= 0) {
      p = known.parts[old];
    } else {
      p.promote = p.staged;
      p.active = true;
      p.age_recheck_at = 0;
      p.retain_at = 0;
      p.retain_backoff_ms = kRetainBackoffMinMs;
    }
    parts[i] = p;
  }
  if (known.parts != nullptr) pfree(known.parts);
  known.parts = parts;
  known.n = static_cast<int>(SPI_processed);
  known.generation = generation;
  known.catalog_at = 0;  // the settings or the partitions changed
}

void add_work(RoundPlan* plan, int state, bool housekeeping, bool retention, bool aged) {
  for (int i = 0; i < plan->nwork; ++i)
    if (plan->work[i].state == state) {
      plan->work[i].housekeeping = plan->work[i].housekeeping || housekeeping;
      plan->work[i].retention = plan->work[i].retention || retention;
      plan->work[i].aged = plan->work[i].aged || aged;
      return;
    }
  if (plan->nwork == plan->capacity) {
    const int capacity = Max(64, plan->capacity * 2);
    auto* work = static_cast<PartitionWork*>(MemoryContextAlloc(TopMemoryContext, sizeof(PartitionWork) * capacity));
    if (plan->work != nullptr) {
      memcpy(work, plan->work, sizeof(PartitionWork) * plan->nwork);
      pfree(plan->work);
    }
    plan->work = work;
    plan->capacity = capacity;
  }
  PartitionWork& w = plan->work[plan->nwork++];
  w = PartitionWork{known.parts[state].domain_id,
                    known.parts[state].partition,
                    housekeeping,
                    state,
                    retention,
                    aged,
                    0,
                    false,
                    0,
                    false};
}

// Int4 array of the flagged partitions' domain ids or partition numbers.
Datum flagged_array(const int* states, int n, bool partitions) {
  Datum* d = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
  for (int i = 0; i < n; ++i)
    d[i] = Int32GetDatum(partitions ? known.parts[states[i]].partition : known.parts[states[i]].domain_id);
  return PointerGetDatum(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

// The earliest time after now at which a current segment passes segment_age
// or a sealed one passes retention (none: 0).
TimestampTz next_catalog_due() {
  int rc = SPI_execute(
      "SELECT min(t) FROM ("
      "  SELECT s.created_at + d.segment_age AS t"
      "    FROM intentlog.partitions p JOIN intentlog.domains d USING (domain_id)"
      "    JOIN intentlog.segments s ON s.domain_id = p.domain_id AND s.partition = p.partition AND s.rel = "
      "p.durable_rel"
      "  UNION ALL"
      "  SELECT x.sealed_at + d.retention FROM intentlog.segments x JOIN intentlog.domains d USING (domain_id)"
      "   WHERE x.sealed_at IS NOT NULL) w"
      " WHERE t > now()",
      true, 1);
  if (rc != SPI_OK_SELECT || SPI_processed != 1) elog(ERROR, "intentlog maintenance: cannot read segment ages");
  bool isnull;
  const Datum v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
  return isnull ? 0 : DatumGetTimestampTz(v);
}

// Housekeeping's catalog query: partitions with a segment past segment_age or
// a sealed one past retention (no relation of the partition is opened). Runs
// when known.catalog_at has come; sets it to the earliest of: the next
// segment to age or expire, the recheck of a partition put off, and
// kCatalogRecheckMs from now; or to the next round when it found work.
void plan_housekeeping(RoundPlan* plan, TimestampTz now) {
  for (int i = 0; i < known.n; ++i)
    if (known.parts[i].active) add_work(plan, i, true, false, false);
  if (known.catalog_at > now) return;
  int rc = SPI_execute(
      "SELECT p.domain_id, p.partition, s.created_at <= now() - d.segment_age,"
      " EXISTS (SELECT 1 FROM intentlog.segments x WHERE x.domain_id = p.domain_id AND x.partition = p.partition"
      "         AND x.sealed_at <= now() - d.retention)"
      " FROM intentlog.partitions p JOIN intentlog.domains d USING (domain_id)"
      " JOIN intentlog.segments s ON s.domain_id = p.domain_id AND s.partition = p.partition AND s.rel = p.durable_rel"
      " WHERE s.created_at <= now() - d.segment_age"
      "    OR EXISTS (SELECT 1 FROM intentlog.segments x WHERE x.domain_id = p.domain_id AND x.partition = p.partition"
      "               AND x.sealed_at <= now() - d.retention)",
      true, 0);
  if (rc != SPI_OK_SELECT) elog(ERROR, "intentlog maintenance: cannot list segments");
  TimestampTz next = TimestampTzPlusMilliseconds(now, kCatalogRecheckMs);
  bool found_work = false;
  for (uint64 i = 0; i < SPI_processed; ++i) {
    HeapTuple row = SPI_tuptable->vals[i];
    bool isnull;
    const int state = find_state(DatumGetInt32(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull)),
                                 DatumGetInt32(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull)));
    if (state < 0) continue;
    const bool aged = DatumGetBool(SPI_getbinval(row, SPI_tuptable->tupdesc, 3, &isnull));
    const bool expired = DatumGetBool(SPI_getbinval(row, SPI_tuptable->tupdesc, 4, &isnull));
    const PartitionState& p = known.parts[state];
    const bool retention = expired && p.retain_at <= now;
    if ((aged && p.age_recheck_at <= now) || retention) {
      add_work(plan, state, true, retention, aged);
      found_work = true;
    }
    if (aged && p.age_recheck_at > now) next = Min(next, p.age_recheck_at);
    if (expired && p.retain_at > now) next = Min(next, p.retain_at);
  }
  const TimestampTz due = next_catalog_due();
  if (due != 0) next = Min(next, due);
  known.catalog_at = found_work ? 0 : next;  // after work: the partitions' new states next round
}

// The flagged staged partitions (every staged one on a sweep): those with
// nothing to move lose the flag, those whose promotion is due are worked on.
void plan_promotions(RoundPlan* plan) {
  int* states = static_cast<int*>(palloc(sizeof(int) * (known.n + 1)));
  int n = 0;
  for (int i = 0; i < known.n; ++i)
    if (known.parts[i].staged && (known.parts[i].promote || plan->sweep)) states[n++] = i;
  if (n == 0) return;
  static SPIPlanPtr query = nullptr;
  if (query == nullptr) {
    Oid types[2] = {INT4ARRAYOID, INT4ARRAYOID};
    SPIPlanPtr q = SPI_prepare(
        "SELECT p.domain_id, p.partition,"
        " intentlog._promotable(p.hot_rel, p.promote_cursor, p.seq_rel),"
        " p.promoted_at + d.promote_after <= now() + interval '300 milliseconds'"
        " FROM unnest($1, $2) AS w(domain_id, partition)"
        " JOIN intentlog.partitions p ON p.domain_id = w.domain_id AND p.partition = w.partition"
        " JOIN intentlog.domains d ON d.domain_id = p.domain_id",
        2, types);
    if (q == nullptr) elog(ERROR, "intentlog maintenance: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
    SPI_keepplan(q);
    query = q;
  }
  Datum values[2] = {flagged_array(states, n, false), flagged_array(states, n, true)};
  if (SPI_execute_plan(query, values, nullptr, true, 0) != SPI_OK_SELECT)
    elog(ERROR, "intentlog maintenance: cannot check promotions");
  for (uint64 i = 0; i < SPI_processed; ++i) {
    HeapTuple row = SPI_tuptable->vals[i];
    bool isnull;
    const int state = find_state(DatumGetInt32(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull)),
                                 DatumGetInt32(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull)));
    if (state < 0) continue;
    bool null_promotable;
    const bool promotable = DatumGetBool(SPI_getbinval(row, SPI_tuptable->tupdesc, 3, &null_promotable));
    const bool due = DatumGetBool(SPI_getbinval(row, SPI_tuptable->tupdesc, 4, &isnull));
    if (null_promotable || !promotable) {
      // A commit after the tick this round read stamps it again.
      known.parts[state].promote = false;
      continue;
    }
    known.parts[state].promote = true;
    if (due) add_work(plan, state, false, false, false);
  }
  pfree(states);
}

// A sweep is due (kFullSweepEveryMs passed): whether it runs. It does while a
// prepared transaction that appended may have been or may still be pending
// (prepared since the last sweep, or pending now or at the last check: its
// COMMIT PREPARED may have come since), and every kBackstopSweepEveryMs.
void decide_sweep(RoundPlan* plan, TimestampTz now) {
  plan->prepares = wakeup_prepares();
  plan->prepared_pending = false;
  if (max_prepared_xacts > 0) {
    const int rc =
        SPI_execute("SELECT EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE database = current_database())", true, 1);
    bool isnull;
    plan->prepared_pending = rc == SPI_OK_SELECT && SPI_processed == 1 &&
                             DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  }
  plan->sweep = plan->prepares != known.swept_prepares || plan->prepared_pending || known.prepared_pending ||
                wakeup_shared() == false || TimestampDifferenceExceeds(known.swept_at, now, kBackstopSweepEveryMs);
}

// Plans a round: on housekeeping rounds the version check, crash gaps, the
// partition list and the housekeeping query; then the promotion checks. None
// while the installed SQL is not this library's version.
void plan_round(void* arg) {
  auto* plan = static_cast<RoundPlan*>(arg);
  const TimestampTz now = GetCurrentTimestamp();
  if (plan->housekeeping) {
    int rc = SPI_execute("SELECT extversion FROM pg_extension WHERE extname = 'intentlog'", true, 1);
    plan->extension_present = rc == SPI_OK_SELECT && SPI_processed == 1;
    if (!plan->extension_present) return;
    if (!versions_match(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))) {
      known.generation = 0;  // read everything again once they match
      plan->housekeeping = false;
      return;
    }
    SPI_execute("SELECT intentlog._recover_after_crash()", false, 0);
    const uint64 generation = domains_generation();
    if (generation != known.generation) refresh_partitions(generation);
    plan_housekeeping(plan, now);
  }
  if (known.generation == 0) return;  // not read yet: the next housekeeping round does
  if (plan->sweep) decide_sweep(plan, now);
  plan_promotions(plan);
}

void maintain_partition(void* arg) {
  static SPIPlanPtr plan = nullptr;
  if (plan == nullptr) {
    Oid types[3] = {INT4OID, INT4OID, BOOLOID};
    SPIPlanPtr p = SPI_prepare(
        "SELECT promoted, rotated, dropped, lock_wait FROM intentlog._maintain_partition($1, $2, $3)", 3, types);
    if (p == nullptr) elog(ERROR, "intentlog maintenance: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
    SPI_keepplan(p);
    plan = p;
  }
  auto* work = static_cast<PartitionWork*>(arg);
  Datum values[3] = {Int32GetDatum(work->domain_id), Int32GetDatum(work->partition), BoolGetDatum(work->housekeeping)};
  if (SPI_execute_plan(plan, values, nullptr, false, 1) == SPI_OK_SELECT && SPI_processed == 1) {
    HeapTuple row = SPI_tuptable->vals[0];
    bool isnull;
    Datum v = SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull);
    work->promoted = isnull ? 0 : DatumGetInt64(v);
    v = SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull);
    work->rotated = !isnull && DatumGetBool(v);
    v = SPI_getbinval(row, SPI_tuptable->tupdesc, 3, &isnull);
    work->dropped = isnull ? 0 : DatumGetInt32(v);
    char* lock_wait = SPI_getvalue(row, SPI_tuptable->tupdesc, 4);
    if (lock_wait != nullptr) {
      work->lock_wait = true;
      char activity[96];
      snprintf(activity, sizeof(activity), "rotation and retention of domain %d partition %d put off", work->domain_id,
               work->partition);
      note_lock_wait(lock_wait, activity);
    }
  }
}

// What a partition's transaction leaves for the next rounds.
void note_done(const PartitionWork& w, bool ok, TimestampTz now) {
  if (w.state >= known.n) return;
  PartitionState& p = known.parts[w.state];
  if (p.domain_id != w.domain_id || p.partition != w.partition) return;
  if (!ok) {  // an error or a lock wait: the same work next round
    if (w.housekeeping) p.active = true;
    return;
  }
  if (w.promoted > 0) {  // rows reached the segment: rotation may be due, and the hot table may hold more
    p.active = true;
    p.age_recheck_at = 0;
  }
  if (w.rotated || w.dropped > 0) known.catalog_at = 0;  // segments changed: ask the catalog again
  if (!w.housekeeping || w.lock_wait) return;
  if (w.promoted == 0) p.active = false;
  // Aged and not rotated: empty. Its next rows come with a stamp or a promotion.
  if (w.aged && !w.rotated && w.promoted == 0) p.age_recheck_at = TimestampTzPlusMilliseconds(now, kAgeRecheckMs);
  if (w.retention) {
    if (w.dropped > 0) {
      p.retain_backoff_ms = kRetainBackoffMinMs;
      p.retain_at = 0;
    } else {
      p.retain_at = TimestampTzPlusMilliseconds(now, p.retain_backoff_ms);
      p.retain_backoff_ms = Min(p.retain_backoff_ms * 2, kRetainBackoffMaxMs);
    }
  }
}

// Merges the partitions stamped since the last round into their flags.
void merge_stamps() {
  const uint64 tick = wakeup_tick();
  if (tick == known.seen_tick && tick != 0) return;
  for (int i = 0; i < known.n; ++i) {
    PartitionState& p = known.parts[i];
    if (!wakeup_stamped_since(p.domain_id, p.partition, known.seen_tick)) continue;
    if (p.staged) p.promote = true;
    p.active = true;
    p.age_recheck_at = 0;
  }
  known.seen_tick = tick;
}

bool any_promote_flag() {
  for (int i = 0; i < known.n; ++i)
    if (known.parts[i].promote) return true;
  return false;
}

// One round. Returns whether the database has intentlog.
bool run_round(RoundPlan* plan) {
  TimestampTz now = GetCurrentTimestamp();
  merge_stamps();
  plan->housekeeping =
      known.generation == 0 || TimestampDifferenceExceeds(known.housekept_at, now, kHousekeepingEveryMs);
  plan->sweep = plan->housekeeping && TimestampDifferenceExceeds(known.sweep_check_at, now, kFullSweepEveryMs);
  plan->nwork = 0;
  if (!plan->housekeeping && !any_promote_flag()) return true;  // an idle round: no transaction at all
  if (plan->housekeeping) known.housekept_at = now;
  const bool sweep_check = plan->sweep;
  if (!in_transaction("intentlog maintenance: plan round", plan_round, plan)) return true;
  if (sweep_check && known.generation != 0) {
    known.sweep_check_at = now;
    known.prepared_pending = plan->prepared_pending;
    if (plan->sweep) {
      known.swept_at = now;
      known.swept_prepares = plan->prepares;
    }
  }
  if (plan->housekeeping && !plan->extension_present) return false;
  for (int i = 0; i < plan->nwork && !ShutdownRequestPending; ++i) {
    char activity[96];
    snprintf(activity, sizeof(activity), "intentlog maintenance: domain %d partition %d", plan->work[i].domain_id,
             plan->work[i].partition);
    const bool ok = in_transaction(activity, maintain_partition, &plan->work[i]);
    note_done(plan->work[i], ok, now);
    CHECK_FOR_INTERRUPTS();
  }
  return true;
}

// The databases a worker may serve, read from the shared catalog directly: the
// launcher connects to no database, so that none is held busy by it.
int list_databases(Oid* found, int max) {
  int n = 0;
  StartTransactionCommand();
  (void)GetTransactionSnapshot();
  Relation rel = table_open(DatabaseRelationId, AccessShareLock);
  TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
  HeapTuple tup;
  while (n < max && (tup = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
    auto* form = reinterpret_cast<Form_pg_database>(GETSTRUCT(tup));
    if (form->datallowconn && !form->datistemplate && !database_is_invalid_form(form)) found[n++] = form->oid;
  }
  table_endscan(scan);
  table_close(rel, AccessShareLock);
  CommitTransactionCommand();
  return n;
}

// One launcher pass: keeps a slot per database found (dropped ones are
// forgotten) and starts a worker where none runs.
int launch_missing(DatabaseSlot* slots, int nslots) {
  Oid found[kMaxDatabases];
  int nfound = list_databases(found, kMaxDatabases);
  DatabaseSlot next[kMaxDatabases];
  bool kept[kMaxDatabases] = {};
  TimestampTz now = GetCurrentTimestamp();
  for (int i = 0; i < nfound; ++i) {
    DatabaseSlot s = {found[i], nullptr, 0, 0};
    for (int j = 0; j < nslots; ++j)
      if (slots[j].db == found[i]) {
        s = slots[j];
        kept[j] = true;
      }
    if (worker_alive(s.handle)) {
      s.gone_since = 0;
    } else if (s.handle == nullptr ||
               (s.gone_since != 0 && TimestampDifferenceExceeds(s.gone_since, now, kDeathGraceMs) &&
                TimestampDifferenceExceeds(s.launched_at, now, kRelaunchAfterMs))) {
      if (s.handle != nullptr) pfree(s.handle);
      launch_worker_for(s.db, &s.handle);
      s.launched_at = now;
      s.gone_since = 0;
    } else if (s.gone_since == 0) {
      s.gone_since = now;
    }
    next[i] = s;
  }
  for (int j = 0; j < nslots; ++j)
    if (!kept[j] && slots[j].handle != nullptr) pfree(slots[j].handle);  // a dropped database's
  memcpy(slots, next, sizeof(DatabaseSlot) * nfound);
  return nfound;
}

}  // namespace

void define_maintenance_gucs() {
  DefineCustomIntVariable("intentlog.maintenance_naptime", "Milliseconds between maintenance rounds.",
                          "Staged domains are promoted at least every promote_after; rounds run this often to keep it.",
                          &naptime_ms, 200, 10, 60000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable("intentlog.maintenance", "Runs intentlog's maintenance background workers.", nullptr,
                           &maintenance_enabled, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("intentlog");
}

void register_maintenance_launcher() {
  BackgroundWorker w;
  memset(&w, 0, sizeof(w));
  w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  w.bgw_start_time = BgWorkerStart_RecoveryFinished;
  w.bgw_restart_time = 5;
  strlcpy(w.bgw_library_name, "intentlog", BGW_MAXLEN);
  strlcpy(w.bgw_function_name, "intentlog_maintenance_launcher_main", BGW_MAXLEN);
  strlcpy(w.bgw_name, "intentlog maintenance launcher", BGW_MAXLEN);
  strlcpy(w.bgw_type, "intentlog maintenance launcher", BGW_MAXLEN);
  RegisterBackgroundWorker(&w);
}

}  // namespace intentlog::pg

using namespace intentlog::pg;

extern "C" {

PGDLLEXPORT void intentlog_maintenance_launcher_main(Datum);
PGDLLEXPORT void intentlog_maintenance_main(Datum);

// Every few seconds: each database that accepts connections and has no live
// maintenance worker gets one. A worker stays until the server stops, except
// in a database without intentlog (it leaves at once and is sent again later)
// or when a statement needs the database alone (utility_hook asks it to go).
void intentlog_maintenance_launcher_main(Datum) {
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);

  DatabaseSlot slots[kMaxDatabases];
  int nslots = 0;
  while (!ShutdownRequestPending) {
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    if (maintenance_enabled) nslots = launch_missing(slots, nslots);
    // Also woken when a worker starts or stops (bgw_notify_pid).
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, kLauncherNaptimeMs, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
  proc_exit(0);
}

void intentlog_maintenance_main(Datum arg) {
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);
  // Maintenance never queues behind another session's lock for long (a
  // LOCK TABLE, CREATE INDEX, VACUUM FULL): that partition's work waits for
  // the next round, the other partitions' does not.
  SetConfigOption("lock_timeout", "200", PGC_SUSET, PGC_S_OVERRIDE);
  RoundPlan plan = {true, false, false, 0, false, 0, nullptr, 0};
  while (!ShutdownRequestPending) {
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    if (!maintenance_enabled) break;
    if (!run_round(&plan)) break;  // no intentlog here (yet): the launcher looks again later
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, naptime_ms, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
  proc_exit(0);
}

}  // extern "C"
