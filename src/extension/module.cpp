// Module entry: PG_MODULE_MAGIC, _PG_init, and the small SQL helpers.
#include "common/partitioner.h"
#include "common/validation.h"
#include "extension/append_counters.h"
#include "extension/domain_cache.h"
#include "extension/error_boundary.h"
#include "extension/maintenance.h"
#include "extension/sql_errors.h"
#include "extension/wakeup.h"

namespace intentlog::pg {
// From the control file's default_version (the Makefile passes it).
const char* const kLibraryVersion = INTENTLOG_VERSION;
}  // namespace intentlog::pg

extern "C" {
PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);
void _PG_init(void) {
  intentlog::pg::register_cache_callbacks();
  intentlog::pg::define_maintenance_gucs();
  intentlog::pg::install_database_utility_hook();
  if (process_shared_preload_libraries_in_progress) {
    intentlog::pg::register_maintenance_launcher();
    intentlog::pg::wakeup_request_shmem();
    intentlog::pg::append_counters_request_shmem();
  }
}

}  // extern "C"

INTENTLOG_FUNCTION(intentlog_partition_for) {
  text* key = PG_GETARG_TEXT_PP(0);
  int32 partitions = PG_GETARG_INT32(1);
  if (intentlog::check_partitions(partitions))
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("partitions must be between 1 and %d, got %d", intentlog::kMaxPartitions, partitions)));
  PG_RETURN_INT32(intentlog::partition_of(std::string_view(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)), partitions));
}

INTENTLOG_FUNCTION(intentlog_check_domain_name) {
  if (PG_ARGISNULL(0)) intentlog::pg::null_argument("domain");
  text* name = PG_GETARG_TEXT_PP(0);
  intentlog::pg::raise_if(intentlog::check_domain_name(std::string_view(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name))),
                          "domain name");
  PG_RETURN_VOID();
}

INTENTLOG_FUNCTION(intentlog_library_version) { PG_RETURN_TEXT_P(cstring_to_text(intentlog::pg::kLibraryVersion)); }

INTENTLOG_FUNCTION(intentlog_invalidate) {
  CacheInvalidateRelcacheByRelid(PG_GETARG_OID(0));
  PG_RETURN_VOID();
}
