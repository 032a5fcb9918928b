// The utility hook. DROP DATABASE and the other statements that need a
// database without other sessions ask its maintenance worker to leave first
// (see maintenance.h); DROP EXTENSION intentlog without CASCADE refuses while
// the database has domains, naming them, and takes the schema intentlog with
// it.
#include <signal.h>

#include "extension/maintenance.h"
#include "extension/pg.h"

extern "C" {
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
}

namespace intentlog::pg {
namespace {

ProcessUtility_hook_type prev_utility_hook = nullptr;

// The database a utility statement needs free of other sessions (DROP
// DATABASE, CREATE DATABASE ... TEMPLATE, ALTER DATABASE ... RENAME or SET
// TABLESPACE), or nullptr.
const char* database_needed_alone(Node* stmt) {
  if (stmt == nullptr) return nullptr;
  // These two refuse to run in a transaction block: asking the worker to
  // leave for nothing would only pause the database's promotions.
  if ((IsA(stmt, DropdbStmt) || IsA(stmt, CreatedbStmt)) && IsTransactionBlock()) return nullptr;
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
    if (strcmp(def->defname, option) == 0 && def->arg != nullptr) return target != nullptr ? target : defGetString(def);
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
    if (type != nullptr && strcmp(type, kMaintenanceWorkerType) == 0) (void)kill(be->st_procpid, SIGTERM);
  }
}

// Whether a statement drops the intentlog extension (without CASCADE, with
// restrict_only).
bool drops_intentlog(Node* stmt, bool restrict_only) {
  if (stmt == nullptr || !IsA(stmt, DropStmt)) return false;
  auto* drop = castNode(DropStmt, stmt);
  if (drop->removeType != OBJECT_EXTENSION || (restrict_only && drop->behavior == DROP_CASCADE)) return false;
  ListCell* lc;
  foreach (lc, drop->objects) {
    if (strcmp(strVal(lfirst(lc)), "intentlog") == 0) return true;
  }
  return false;
}

// DROP EXTENSION intentlog would drop the domains' tables with the schema
// intentlog_data, so without CASCADE it refuses while there are domains: with
// a message that names them and the two ways on (PostgreSQL's own would list
// every partition and segment table). Only for the extension's owner: anyone
// else gets PostgreSQL's "must be owner".
void refuse_drop_while_domains() {
  const Oid ext = get_extension_oid("intentlog", true);
  if (!OidIsValid(ext) || !pg_extension_ownercheck(ext, GetUserId())) return;
  SPI_connect();
  if (SPI_execute("SELECT count(*)::int, string_agg(name, ', ' ORDER BY name) FROM intentlog.domains", true, 1) !=
      SPI_OK_SELECT)
    elog(ERROR, "intentlog: could not read intentlog.domains");
  bool isnull;
  const int32 n = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  if (n > 0) {
    char* names = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
    ereport(ERROR,
            (errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
             errmsg("cannot drop extension intentlog: the database has %d intentlog domain%s (%s)", n,
                    n == 1 ? "" : "s", names),
             errdetail("Dropping the extension drops every domain's intents, cursors, retries and dead letters."),
             errhint("Drop the domains first with intentlog.drop_domain(), or drop them with the extension: "
                     "DROP EXTENSION intentlog CASCADE.")));
  }
  SPI_finish();
}

// CREATE EXTENSION created the schema intentlog (the control file names it)
// but PostgreSQL does not count it as the extension's: once the extension is
// dropped, an empty schema intentlog goes with it. One that holds anything
// else stays.
void drop_empty_schema() {
  const Oid ns = get_namespace_oid("intentlog", true);
  if (!OidIsValid(ns)) return;
  SPI_connect();
  Datum arg = ObjectIdGetDatum(ns);
  Oid type = OIDOID;
  // Not read-only: a fresh snapshot, which sees what the DROP just deleted.
  if (SPI_execute_with_args("SELECT 1 FROM pg_depend WHERE refclassid = 'pg_namespace'::regclass AND refobjid = $1", 1,
                            &type, &arg, nullptr, false, 1) == SPI_OK_SELECT &&
      SPI_processed == 0)
    SPI_execute("DROP SCHEMA intentlog", false, 0);
  SPI_finish();
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
  if (drops_intentlog(pstmt->utilityStmt, true)) refuse_drop_while_domains();
  const bool dropping_intentlog =
      drops_intentlog(pstmt->utilityStmt, false) && OidIsValid(get_extension_oid("intentlog", true));
  if (prev_utility_hook != nullptr)
    prev_utility_hook(pstmt, query, read_only_tree, context, params, query_env, dest, qc);
  else
    standard_ProcessUtility(pstmt, query, read_only_tree, context, params, query_env, dest, qc);
  if (dropping_intentlog && !OidIsValid(get_extension_oid("intentlog", true))) drop_empty_schema();
}

}  // namespace

void install_database_utility_hook() {
  if (ProcessUtility_hook == utility_hook) return;
  prev_utility_hook = ProcessUtility_hook;
  ProcessUtility_hook = utility_hook;
}

}  // namespace intentlog::pg
