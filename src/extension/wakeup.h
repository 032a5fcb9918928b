// Wakeup: tells consumers that intents committed, without NOTIFY.
//
// NOTIFY serializes every notifying commit in the cluster on one heavyweight
// lock; measured here it cut intent_append throughput to 0.2-0.4x of a plain
// INSERT at 8 clients. Instead, a committing transaction that appended bumps a
// shared tick and stamps the (database, domain, partition) slots it touched;
// intentlog.wait_for_intents() sleeps on its database's condition variable
// until a commit there moves the tick and reports which partitions it
// stamped. Needs shared_preload_libraries;
// without it, waits degrade to a short poll.
#pragma once

#include "extension/pg.h"

namespace intentlog::pg {

void wakeup_request_shmem();  // from _PG_init (shared_preload_libraries)

// Remembers that the current transaction appended to (domain, partition);
// the slots are stamped when it commits.
void wakeup_note_append(int32 domain_id, int partition);

// The current tick (0 without shared memory), and whether a transaction that
// appended to (domain, partition) of this database committed or prepared after
// tick `since` (false positives possible: slots are shared; always true
// without shared memory). Read the tick first: every stamp of a commit the
// tick counts is then visible.
uint64 wakeup_tick();
bool wakeup_stamped_since(int32 domain_id, int partition, uint64 since);

// Whether the tick and stamps are in shared memory (the library was preloaded).
bool wakeup_shared();
// How many transactions that appended were prepared (PREPARE TRANSACTION)
// since the server started, in any database (0 without shared memory).
uint64 wakeup_prepares();
// Sleeps until a transaction that appended in this database (or in one that
// shares its slot) commits or prepares with a tick past `since`, or
// `deadline` comes, and returns the highest such tick (every stamp up to it
// is visible then). Commits in other databases do not wake it. Without
// shared memory: a short poll, returning since + 1.
uint64 wakeup_wait_beyond(uint64 since, TimestampTz deadline);

}  // namespace intentlog::pg
