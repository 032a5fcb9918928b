#include "extension/maintenance.h"

#include "extension/pg.h"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/wait_event.h"
}

#include <signal.h>

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
constexpr const char* kWorkerType = "intentlog maintenance";

ProcessUtility_hook_type prev_utility_hook = nullptr;

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
  strlcpy(w.bgw_type, kWorkerType, BGW_MAXLEN);
  w.bgw_main_arg = ObjectIdGetDatum(dboid);
  w.bgw_notify_pid = MyProcPid;
  if (!RegisterDynamicBackgroundWorker(&w, handle)) *handle = nullptr;
}

bool worker_alive(BackgroundWorkerHandle* h) {
  pid_t pid;
  return h != nullptr && GetBackgroundWorkerPid(h, &pid) != BGWH_STOPPED;
}

// Runs `sql` in its own transaction; an error is logged and swallowed so one
// bad round never stops maintenance.
bool run_round(const char* sql, bool* extension_present) {
  bool ok = true;
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  PushActiveSnapshot(GetTransactionSnapshot());
  pgstat_report_activity(STATE_RUNNING, sql);
  MemoryContext cxt = CurrentMemoryContext;
  PG_TRY();
  {
    SPI_connect();
    int rc = SPI_execute("SELECT 1 FROM pg_extension WHERE extname = 'intentlog'", true, 1);
    *extension_present = rc == SPI_OK_SELECT && SPI_processed == 1;
    if (*extension_present) SPI_execute(sql, false, 0);
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(cxt);
    EmitErrorReport();
    FlushErrorState();
    AbortCurrentTransaction();
    ok = false;
  }
  PG_END_TRY();
  pgstat_report_activity(STATE_IDLE, nullptr);
  return ok;
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
  TimestampTz now = GetCurrentTimestamp();
  for (int i = 0; i < nfound; ++i) {
    DatabaseSlot s = {found[i], nullptr, 0, 0};
    for (int j = 0; j < nslots; ++j)
      if (slots[j].db == found[i]) s = slots[j];
    if (worker_alive(s.handle)) {
      s.gone_since = 0;
    } else if (s.handle == nullptr ||
               (s.gone_since != 0 && TimestampDifferenceExceeds(s.gone_since, now, kDeathGraceMs) &&
                TimestampDifferenceExceeds(s.launched_at, now, kRelaunchAfterMs))) {
      launch_worker_for(s.db, &s.handle);
      s.launched_at = now;
      s.gone_since = 0;
    } else if (s.gone_since == 0) {
      s.gone_since = now;
    }
    next[i] = s;
  }
  memcpy(slots, next, sizeof(DatabaseSlot) * nfound);
  return nfound;
}

// The database a utility statement needs free of other sessions (DROP
// DATABASE, CREATE DATABASE ... TEMPLATE, ALTER DATABASE ... RENAME or SET
// TABLESPACE), or nullptr.
const char* database_needed_alone(Node* stmt) {
  if (IsA(stmt, DropdbStmt)) return castNode(DropdbStmt, stmt)->dbname;
  if (IsA(stmt, RenameStmt) && castNode(RenameStmt, stmt)->renameType == OBJECT_DATABASE)
    return castNode(RenameStmt, stmt)->subname;
  List* options = nullptr;
  const char* target = nullptr;
  const char* option = nullptr;
  if (IsA(stmt, CreatedbStmt)) {
    options = castNode(CreatedbStmt, stmt)->options;
    option = "template";
  } else if (IsA(stmt, AlterDatabaseStmt)) {
    options = castNode(AlterDatabaseStmt, stmt)->options;
    target = castNode(AlterDatabaseStmt, stmt)->dbname;
    option = "tablespace";
  } else {
    return nullptr;
  }
  ListCell* lc;
  foreach (lc, options) {
    auto* def = lfirst_node(DefElem, lc);
    if (strcmp(def->defname, option) == 0 && def->arg != nullptr)
      return target != nullptr ? target : defGetString(def);
  }
  return nullptr;
}

// Asks the maintenance worker of `db` to leave (SIGTERM: it ends its round
// and exits). The statement then waits for it as for any other session, up
// to 5 s, which a round takes far less than.
void ask_worker_to_leave(Oid db) {
  pgstat_clear_backend_activity_snapshot();
  int n = pgstat_fetch_stat_numbackends();
  for (int i = 1; i <= n; ++i) {
    PgBackendStatus* be = &pgstat_fetch_stat_local_beentry(i)->backendStatus;
    if (be->st_databaseid != db || be->st_backendType != B_BG_WORKER) continue;
    const char* type = GetBackgroundWorkerTypeByPid(be->st_procpid);
    if (type != nullptr && strcmp(type, kWorkerType) == 0) (void)kill(be->st_procpid, SIGTERM);
  }
}

void utility_hook(PlannedStmt* pstmt, const char* query, bool read_only_tree, ProcessUtilityContext context,
                  ParamListInfo params, QueryEnvironment* query_env, DestReceiver* dest, QueryCompletion* qc) {
  const char* name = database_needed_alone(pstmt->utilityStmt);
  if (name != nullptr) {
    Oid db = get_database_oid(name, true);
    // Only for whoever may run the statement: nobody else gets to restart
    // another owner's maintenance.
    if (OidIsValid(db) && pg_database_ownercheck(db, GetUserId())) ask_worker_to_leave(db);
  }
  if (prev_utility_hook != nullptr)
    prev_utility_hook(pstmt, query, read_only_tree, context, params, query_env, dest, qc);
  else
    standard_ProcessUtility(pstmt, query, read_only_tree, context, params, query_env, dest, qc);
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

void install_database_utility_hook() {
  if (ProcessUtility_hook == utility_hook) return;
  prev_utility_hook = ProcessUtility_hook;
  ProcessUtility_hook = utility_hook;
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
  while (!ShutdownRequestPending) {
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    if (!maintenance_enabled) break;
    bool present = false;
    run_round("SELECT intentlog.maintain()", &present);
    if (!present) break;  // no intentlog here (yet): the launcher looks again later
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, naptime_ms, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
  proc_exit(0);
}

}  // extern "C"
