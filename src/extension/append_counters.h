// Append counters: per (database, domain), the intents committed and rolled
// back and the transactions that appended, since the server started
// (intentlog.metrics()). Kept in shared memory, and touched only when an
// appending transaction ends: an append adds to a backend-local tally, so
// the append path pays no shared write and no lock. Needs
// shared_preload_libraries; without it nothing is counted and
// intentlog.metrics() says so.
#pragma once

#include "extension/pg.h"

namespace intentlog::pg {

void append_counters_request_shmem();  // from _PG_init (shared_preload_libraries)

// The current (sub)transaction appended `intents` intents to `domain_id`.
void append_counters_note(int32 domain_id, int intents);

}  // namespace intentlog::pg
