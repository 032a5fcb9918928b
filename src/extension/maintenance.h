// Maintenance background workers: a launcher that starts one worker per
// database, and the per-database worker that does what intentlog.maintain()
// does (record crash gaps, promote staged hot tables, rotate segments, apply
// retention), a partition per transaction, every intentlog.maintenance_naptime
// while the server runs.
#pragma once

namespace intentlog::pg {

// The version of this build (the control file's default_version). The SQL a
// database has installed may differ until ALTER EXTENSION intentlog UPDATE:
// its maintenance worker then pauses and says so once.
extern const char* const kLibraryVersion;

// bgw_type of the per-database maintenance workers.
constexpr const char* kMaintenanceWorkerType = "intentlog maintenance";

void define_maintenance_gucs();
void register_maintenance_launcher();
// In every backend: DROP DATABASE and the other statements that need a
// database without other sessions first ask its maintenance worker to leave;
// DROP EXTENSION intentlog without CASCADE refuses while domains exist.
void install_database_utility_hook();

}  // namespace intentlog::pg
