#include "extension/maintenance.h"

#include "extension/pg.h"

extern "C" {
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
// A database whose worker left early (no intentlog there) is looked at again after this.
constexpr long kRelaunchAfterMs = 10000;
// A per-database worker leaves after this long and is relaunched at once: a
// connected background worker would otherwise make DROP DATABASE fail (it
// waits up to 5 s for other sessions to leave, but does not end them).
constexpr long kWorkerLifetimeMs = 3000;

void launch_worker_for(Oid dboid, BackgroundWorkerHandle** handle) {
  BackgroundWorker w;
  memset(&w, 0, sizeof(w));
  w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  w.bgw_start_time = BgWorkerStart_RecoveryFinished;
  w.bgw_restart_time = BGW_NEVER_RESTART;
  strlcpy(w.bgw_library_name, "intentlog", BGW_MAXLEN);
  strlcpy(w.bgw_function_name, "intentlog_maintenance_main", BGW_MAXLEN);
  snprintf(w.bgw_name, BGW_MAXLEN, "intentlog maintenance (db %u)", dboid);
  strlcpy(w.bgw_type, "intentlog maintenance", BGW_MAXLEN);
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
// maintenance worker gets one. A worker leaves a database without intentlog.
void intentlog_maintenance_launcher_main(Datum) {
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection("postgres", nullptr, 0);

  Oid dbs[kMaxDatabases];
  BackgroundWorkerHandle* handles[kMaxDatabases];
  TimestampTz launched_at[kMaxDatabases];
  int ndbs = 0;
  while (!ShutdownRequestPending) {
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    if (maintenance_enabled) {
      StartTransactionCommand();
      SPI_connect();
      PushActiveSnapshot(GetTransactionSnapshot());
      int rc = SPI_execute("SELECT oid FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY oid", true,
                           kMaxDatabases);
      Oid found[kMaxDatabases];
      int nfound = 0;
      if (rc == SPI_OK_SELECT) {
        for (uint64 i = 0; i < SPI_processed && nfound < kMaxDatabases; ++i) {
          bool isnull;
          found[nfound++] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
        }
      }
      PopActiveSnapshot();
      SPI_finish();
      CommitTransactionCommand();
      for (int i = 0; i < nfound; ++i) {
        int slot = -1;
        for (int j = 0; j < ndbs; ++j)
          if (dbs[j] == found[i]) slot = j;
        if (slot < 0 && ndbs < kMaxDatabases) {
          slot = ndbs++;
          dbs[slot] = found[i];
          handles[slot] = nullptr;
          launched_at[slot] = 0;
        }
        if (slot < 0 || worker_alive(handles[slot])) continue;
        TimestampTz now = GetCurrentTimestamp();
        // A worker that lived its full lifetime found intentlog: replace it now.
        bool served = TimestampDifferenceExceeds(launched_at[slot], now, kWorkerLifetimeMs - 500);
        bool retry_due = TimestampDifferenceExceeds(launched_at[slot], now, kRelaunchAfterMs);
        if (handles[slot] != nullptr && !served && !retry_due) continue;
        launch_worker_for(found[i], &handles[slot]);
        launched_at[slot] = now;
      }
    }
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
  TimestampTz started = GetCurrentTimestamp();
  while (!ShutdownRequestPending && !TimestampDifferenceExceeds(started, GetCurrentTimestamp(), kWorkerLifetimeMs)) {
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
