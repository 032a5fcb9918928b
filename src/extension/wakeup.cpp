#include "extension/wakeup.h"

#include "extension/domain_cache.h"
#include "extension/error_boundary.h"

extern "C" {
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/wait_event.h"
}

namespace intentlog::pg {
namespace {

constexpr int kSlots = 4096;         // stamps; collisions only cause spurious wakeups
constexpr int kDbSlots = 64;         // per-database ticks; databases that share one wake each other
constexpr int kMaxNoted = 64;        // partitions remembered per transaction
constexpr int kFallbackPollMs = 50;  // without shared memory

// The tick counts appending commits of the whole cluster and orders the
// stamps. Waiters sleep on their database's slot: its tick is the highest
// tick value a commit in the database (or one sharing the slot) took, and
// its condition variable is broadcast by those commits only, so that a busy
// database does not wake every other database's waiters at each commit.
struct DbSlot {
  pg_atomic_uint64 tick;
  ConditionVariable cv;
};
struct WakeupShmem {
  pg_atomic_uint64 tick;
  pg_atomic_uint64 prepares;  // PREPARE TRANSACTIONs of transactions that appended, in any database
  DbSlot dbs[kDbSlots];
  pg_atomic_uint64 stamps[kSlots];
};

WakeupShmem* shared = nullptr;
shmem_request_hook_type prev_request_hook = nullptr;
shmem_startup_hook_type prev_startup_hook = nullptr;

// Partitions the current transaction appended to; kMaxNoted+ means "all".
struct Noted {
  int32 domain_id;
  int partition;
};
Noted noted[kMaxNoted];
int nnoted = 0;
bool overflowed = false;
bool callback_registered = false;

DbSlot& db_slot(Oid db) {
  uint64 h = static_cast<uint64>(db) * 0x9E3779B97F4A7C15ULL;
  return shared->dbs[(h >> 32) % kDbSlots];
}

uint32 slot_of(Oid db, int32 domain_id, int partition) {
  uint64 h = (static_cast<uint64>(db) * 0x9E3779B97F4A7C15ULL) ^ (static_cast<uint64>(domain_id) << 20) ^
             static_cast<uint64>(partition);
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  return static_cast<uint32>(h % kSlots);
}

void stamp_max(pg_atomic_uint64* slot, uint64 tick) {
  uint64 cur = pg_atomic_read_u64(slot);
  while (cur < tick && !pg_atomic_compare_exchange_u64(slot, &cur, tick)) {
  }
}

// Stamps the noted partitions and then moves the tick to a value no lower
// than the stamps, in that order: a reader that sees the new tick also sees
// the stamps, so it reports them however their commits interleave with its
// read (a stamp written after the tick moved could be read as old and missed).
// A concurrent commit moving the tick first makes this one stamp again with the
// next value. Returns the tick it moved to.
uint64 stamp_and_tick() {
  uint64 cur = pg_atomic_read_u64(&shared->tick);
  for (;;) {
    const uint64 next = cur + 1;
    if (overflowed) {
      for (int i = 0; i < kSlots; ++i) stamp_max(&shared->stamps[i], next);
    } else {
      for (int i = 0; i < nnoted; ++i)
        stamp_max(&shared->stamps[slot_of(MyDatabaseId, noted[i].domain_id, noted[i].partition)], next);
    }
    if (pg_atomic_compare_exchange_u64(&shared->tick, &cur, next)) return next;
  }
}

void on_xact(XactEvent event, void*) {
  if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_COMMIT &&
      event != XACT_EVENT_PREPARE)
    return;
  // Runs after the commit is visible: a waiter that sees the new tick and
  // then fetches sees these intents. A prepared transaction stamps too: its
  // COMMIT PREPARED runs in a session that knows nothing of its partitions,
  // so readers learn of it now and keep it pending in their cursors until it
  // ends (the worker and maintenance look again at partitions with pending
  // transactions).
  if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE) && (nnoted > 0 || overflowed) && shared != nullptr) {
    if (event == XACT_EVENT_PREPARE) pg_atomic_fetch_add_u64(&shared->prepares, 1);
    const uint64 tick = stamp_and_tick();
    // After the tick: a waiter that sees the database's tick sees every
    // stamp of a commit with a tick up to it (those took theirs earlier).
    DbSlot& db = db_slot(MyDatabaseId);
    stamp_max(&db.tick, tick);
    ConditionVariableBroadcast(&db.cv);
  }
  nnoted = 0;
  overflowed = false;
}

void request_hook() {
  if (prev_request_hook) prev_request_hook();
  RequestAddinShmemSpace(MAXALIGN(sizeof(WakeupShmem)));
}

void startup_hook() {
  if (prev_startup_hook) prev_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found;
  shared = static_cast<WakeupShmem*>(ShmemInitStruct("intentlog wakeup", sizeof(WakeupShmem), &found));
  if (!found) {
    pg_atomic_init_u64(&shared->tick, 1);
    pg_atomic_init_u64(&shared->prepares, 0);
    for (auto& db : shared->dbs) {
      pg_atomic_init_u64(&db.tick, 0);
      ConditionVariableInit(&db.cv);
    }
    for (auto& s : shared->stamps) pg_atomic_init_u64(&s, 0);
  }
  LWLockRelease(AddinShmemInitLock);
}

// This backend's copy of the domains and their partition counts, read again
// only when intentlog.domains changed: a wake-up then costs a look at the
// stamps, not a catalog query over every partition.
struct WatchedDomain {
  int32 domain_id;
  int partitions;
  text* name;
};
struct WatchedDomains {
  uint64 generation;
  int ndomains;
  WatchedDomain* domains;
  MemoryContext cxt;
};
WatchedDomains watched = {0, 0, nullptr, nullptr};

const WatchedDomains& watched_domains() {
  const uint64 generation = domains_generation();
  if (watched.cxt != nullptr && watched.generation == generation) return watched;
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "intentlog: SPI_connect failed");
  int rc = SPI_execute("SELECT domain_id, name, partitions FROM intentlog.domains ORDER BY 1", true, 0);
  if (rc != SPI_OK_SELECT) elog(ERROR, "intentlog: cannot list domains");
  MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "intentlog watched domains", ALLOCSET_SMALL_SIZES);
  auto* domains = static_cast<WatchedDomain*>(MemoryContextAlloc(cxt, sizeof(WatchedDomain) * (SPI_processed + 1)));
  for (uint64 i = 0; i < SPI_processed; ++i) {
    bool isnull;
    HeapTuple t = SPI_tuptable->vals[i];
    domains[i].domain_id = DatumGetInt32(SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &isnull));
    domains[i].partitions = DatumGetInt32(SPI_getbinval(t, SPI_tuptable->tupdesc, 3, &isnull));
    MemoryContext old = MemoryContextSwitchTo(cxt);
    domains[i].name = DatumGetTextPCopy(SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &isnull));
    MemoryContextSwitchTo(old);
  }
  const int n = static_cast<int>(SPI_processed);
  SPI_finish();
  if (watched.cxt != nullptr) MemoryContextDelete(watched.cxt);
  watched = {generation, n, domains, cxt};
  return watched;
}

}  // namespace

void wakeup_request_shmem() {
  prev_request_hook = shmem_request_hook;
  shmem_request_hook = request_hook;
  prev_startup_hook = shmem_startup_hook;
  shmem_startup_hook = startup_hook;
}

void wakeup_note_append(int32 domain_id, int partition) {
  if (!callback_registered) {
    RegisterXactCallback(on_xact, nullptr);
    callback_registered = true;
  }
  if (overflowed) return;
  for (int i = nnoted - 1; i >= 0; --i)
    if (noted[i].domain_id == domain_id && noted[i].partition == partition) return;
  if (nnoted == kMaxNoted) {
    overflowed = true;
    return;
  }
  noted[nnoted++] = Noted{domain_id, partition};
}

uint64 wakeup_tick() {
  if (shared == nullptr) return 0;
  const uint64 tick = pg_atomic_read_u64(&shared->tick);
  pg_read_barrier();  // then the stamps of every commit it counts are visible
  return tick;
}

bool wakeup_stamped_since(int32 domain_id, int partition, uint64 since) {
  return shared == nullptr || pg_atomic_read_u64(&shared->stamps[slot_of(MyDatabaseId, domain_id, partition)]) > since;
}

bool wakeup_shared() { return shared != nullptr; }

uint64 wakeup_prepares() { return shared == nullptr ? 0 : pg_atomic_read_u64(&shared->prepares); }

uint64 wakeup_wait_beyond(uint64 since, TimestampTz deadline) {
  if (shared == nullptr) {
    const long left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
    pg_usleep(static_cast<long>(Min(left, kFallbackPollMs)) * 1000L);
    CHECK_FOR_INTERRUPTS();
    return since + 1;
  }
  DbSlot& db = db_slot(MyDatabaseId);
  uint64 tick;
  ConditionVariablePrepareToSleep(&db.cv);
  while ((tick = pg_atomic_read_u64(&db.tick)) <= since) {
    const long left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
    if (left <= 0) break;
    (void)ConditionVariableTimedSleep(&db.cv, left, PG_WAIT_EXTENSION);
  }
  ConditionVariableCancelSleep();
  pg_read_barrier();  // the stamps of every commit up to that tick are visible
  return tick;
}

}  // namespace intentlog::pg

using namespace intentlog::pg;

// intentlog.wait_for_intents(since bigint, timeout_ms int)
//   RETURNS TABLE (tick bigint, domain text, partition int)
// Waits until an appending transaction of this database commits after tick
// `since` (or the timeout passes), then returns the partitions of this
// database stamped after `since`, each with the tick waited for. With nothing new it returns one row
// (tick, NULL, NULL) so the caller learns the tick to pass next time.
INTENTLOG_FUNCTION(intentlog_wait_for_intents) {
  int64 since = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);
  int timeout_ms = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
  if (timeout_ms < 0 || timeout_ms > 600000)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("timeout_ms must be between 0 and 600000")));
  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  InitMaterializedSRF(fcinfo, 0);

  // Not preloaded: no shared tick, a short poll that reports every partition.
  const uint64 tick =
      wakeup_wait_beyond(static_cast<uint64>(since), TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms));

  bool any = false;
  if (tick > static_cast<uint64>(since)) {
    pg_read_barrier();  // the stamps of every commit the tick counts are visible
    const WatchedDomains& watched = watched_domains();
    for (int i = 0; i < watched.ndomains; ++i) {
      const WatchedDomain& d = watched.domains[i];
      for (int p = 0; p < d.partitions; ++p) {
        const bool changed =
            shared == nullptr ||
            pg_atomic_read_u64(&shared->stamps[slot_of(MyDatabaseId, d.domain_id, p)]) > static_cast<uint64>(since);
        if (!changed) continue;
        Datum values[3] = {Int64GetDatum(static_cast<int64>(tick)), PointerGetDatum(d.name), Int32GetDatum(p)};
        bool nulls[3] = {false, false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        any = true;
      }
    }
  }
  if (!any) {
    Datum values[3] = {Int64GetDatum(static_cast<int64>(tick)), (Datum)0, (Datum)0};
    bool nulls[3] = {false, true, true};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return (Datum)0;
}
