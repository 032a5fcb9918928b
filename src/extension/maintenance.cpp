#include "extension/maintenance.h"

#include "extension/pg.h"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
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

// Rotation and retention (segment_rows, segment_age, retention) need no
// more than this often; promotion is looked at every round.
constexpr long kHousekeepingEveryMs = 1000;

// One partition of a round, as maintain_partition gets it.
struct PartitionWork {
  int32 domain_id;
  int32 partition;
  bool housekeeping;  // rotation and retention too
};

// What a round works through, filled by list_partitions.
struct RoundPlan {
  bool extension_present;
  bool housekeeping;  // this round also rotates and applies retention
  int npartitions;
  PartitionWork* partitions;  // in TopMemoryContext
};

// Lists the partitions that need a transaction this round: those whose
// promotion is due, or all of them on a housekeeping round. An idle round
// costs this one query. None while the installed SQL is not this library's
// version.
void list_partitions(void* arg) {
  auto* plan = static_cast<RoundPlan*>(arg);
  int rc = SPI_execute("SELECT extversion FROM pg_extension WHERE extname = 'intentlog'", true, 1);
  plan->extension_present = rc == SPI_OK_SELECT && SPI_processed == 1;
  plan->npartitions = 0;
  if (!plan->extension_present) return;
  if (!versions_match(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))) return;
  SPI_execute("SELECT intentlog._recover_after_crash()", false, 0);
  rc = SPI_execute(
      "SELECT p.domain_id, p.partition,"
      " intentlog._promotion_due(d.durability, p.promoted_at, d.promote_after, p.hot_rel, p.promote_cursor)"
      " FROM intentlog.partitions p JOIN intentlog.domains d USING (domain_id) ORDER BY 1, 2",
      true, 0);
  if (rc != SPI_OK_SELECT) return;
  if (plan->partitions != nullptr) pfree(plan->partitions);
  plan->partitions =
      static_cast<PartitionWork*>(MemoryContextAlloc(TopMemoryContext, sizeof(PartitionWork) * (SPI_processed + 1)));
  int n = 0;
  for (uint64 i = 0; i < SPI_processed; ++i) {
    HeapTuple row = SPI_tuptable->vals[i];
    bool isnull;
    const bool due = DatumGetBool(SPI_getbinval(row, SPI_tuptable->tupdesc, 3, &isnull)) && !isnull;
    if (!due && !plan->housekeeping) continue;
    plan->partitions[n].domain_id = DatumGetInt32(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull));
    plan->partitions[n].partition = DatumGetInt32(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull));
    plan->partitions[n].housekeeping = plan->housekeeping;
    ++n;
  }
  plan->npartitions = n;
}

void maintain_partition(void* arg) {
  static SPIPlanPtr plan = nullptr;
  if (plan == nullptr) {
    Oid types[3] = {INT4OID, INT4OID, BOOLOID};
    SPIPlanPtr p = SPI_prepare("SELECT lock_wait FROM intentlog._maintain_partition($1, $2, $3)", 3, types);
    if (p == nullptr) elog(ERROR, "intentlog maintenance: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
    SPI_keepplan(p);
    plan = p;
  }
  const auto* work = static_cast<const PartitionWork*>(arg);
  Datum values[3] = {Int32GetDatum(work->domain_id), Int32GetDatum(work->partition), BoolGetDatum(work->housekeeping)};
  if (SPI_execute_plan(plan, values, nullptr, false, 1) == SPI_OK_SELECT && SPI_processed == 1) {
    char* lock_wait = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    if (lock_wait != nullptr) {
      char activity[96];
      snprintf(activity, sizeof(activity), "rotation and retention of domain %d partition %d put off", work->domain_id,
               work->partition);
      note_lock_wait(lock_wait, activity);
    }
  }
}

// One round: crash gaps and the partitions with work, then each of them in a
// transaction of its own. Returns whether the database has intentlog.
bool run_round(RoundPlan* plan) {
  static TimestampTz housekept_at = 0;
  TimestampTz now = GetCurrentTimestamp();
  plan->housekeeping = TimestampDifferenceExceeds(housekept_at, now, kHousekeepingEveryMs);
  if (plan->housekeeping) housekept_at = now;
  if (!in_transaction("intentlog maintenance: list partitions", list_partitions, plan)) return true;
  for (int i = 0; i < plan->npartitions && !ShutdownRequestPending; ++i) {
    char activity[96];
    snprintf(activity, sizeof(activity), "intentlog maintenance: domain %d partition %d", plan->partitions[i].domain_id,
             plan->partitions[i].partition);
    (void)in_transaction(activity, maintain_partition, &plan->partitions[i]);
    CHECK_FOR_INTERRUPTS();
  }
  return plan->extension_present;
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
  RoundPlan plan = {false, false, 0, nullptr};
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
