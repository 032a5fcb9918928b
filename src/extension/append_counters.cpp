#include "extension/append_counters.h"

#include "extension/error_boundary.h"

extern "C" {
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
}

namespace intentlog::pg {
namespace {

// (database, domain) pairs counted; a domain beyond that is counted in
// `unslotted` only (intentlog.metrics() warns). Domain ids are not reused
// within a database, so a slot is never freed.
constexpr uint32 kSlots = 4096;

struct Slot {
  pg_atomic_uint64 tag;  // database << 32 | domain id; 0 = free
  pg_atomic_uint64 committed;
  pg_atomic_uint64 rolled_back;
  pg_atomic_uint64 transactions;
};

struct CountersShmem {
  pg_atomic_uint64 unslotted;  // intents of domains that found no free slot
  Slot slots[kSlots];
};

CountersShmem* shared = nullptr;
shmem_request_hook_type prev_request_hook = nullptr;
shmem_startup_hook_type prev_startup_hook = nullptr;

// The current transaction's appends, per domain and subtransaction level; a
// subtransaction that aborts marks its entries rolled back, one that commits
// hands them to its parent.
struct Tally {
  int32 domain_id;
  int level;  // nesting level that appended (0 once rolled back)
  uint64 intents;
  bool rolled_back;
};
Tally* tally = nullptr;  // TopMemoryContext
int ntally = 0;
int tally_cap = 0;
bool callbacks_registered = false;

uint64 tag_of(Oid db, int32 domain_id) { return (static_cast<uint64>(db) << 32) | static_cast<uint32>(domain_id); }

Slot* find_slot(uint64 tag, bool claim) {
  uint64 h = tag * 0x9E3779B97F4A7C15ULL;
  h ^= h >> 31;
  for (uint32 i = 0; i < kSlots; ++i) {
    Slot* s = &shared->slots[(h + i) % kSlots];
    uint64 cur = pg_atomic_read_u64(&s->tag);
    if (cur == tag) return s;
    if (cur != 0) continue;
    if (!claim) return nullptr;
    uint64 expected = 0;
    if (pg_atomic_compare_exchange_u64(&s->tag, &expected, tag) || expected == tag) return s;
  }
  return nullptr;
}

void flush(bool committed) {
  for (int i = 0; i < ntally; ++i) {
    const Tally& t = tally[i];
    const bool kept = committed && !t.rolled_back;
    Slot* s = find_slot(tag_of(MyDatabaseId, t.domain_id), true);
    if (s == nullptr) {
      pg_atomic_fetch_add_u64(&shared->unslotted, t.intents);
      continue;
    }
    pg_atomic_fetch_add_u64(kept ? &s->committed : &s->rolled_back, t.intents);
    if (!kept) continue;
    bool first = true;  // one transaction per domain, however many entries it has
    for (int j = 0; j < i && first; ++j)
      if (tally[j].domain_id == t.domain_id && !tally[j].rolled_back) first = false;
    if (first) pg_atomic_fetch_add_u64(&s->transactions, 1);
  }
}

// A prepared transaction counts as committed when it is prepared.
void on_xact(XactEvent event, void*) {
  if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PREPARE &&
      event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT)
    return;
  if (ntally > 0 && shared != nullptr) flush(event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT);
  ntally = 0;
}

void on_subxact(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
  if (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB) return;
  const int level = GetCurrentTransactionNestLevel();  // still the ending subtransaction's
  for (int i = 0; i < ntally; ++i) {
    Tally& t = tally[i];
    if (t.rolled_back || t.level < level) continue;
    if (event == SUBXACT_EVENT_COMMIT_SUB) {
      t.level = level - 1;
    } else {
      t.rolled_back = true;
      t.level = 0;
    }
  }
}

void request_hook() {
  if (prev_request_hook) prev_request_hook();
  RequestAddinShmemSpace(MAXALIGN(sizeof(CountersShmem)));
}

void startup_hook() {
  if (prev_startup_hook) prev_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found;
  shared = static_cast<CountersShmem*>(ShmemInitStruct("intentlog append counters", sizeof(CountersShmem), &found));
  if (!found) {
    pg_atomic_init_u64(&shared->unslotted, 0);
    for (Slot& s : shared->slots) {
      pg_atomic_init_u64(&s.tag, 0);
      pg_atomic_init_u64(&s.committed, 0);
      pg_atomic_init_u64(&s.rolled_back, 0);
      pg_atomic_init_u64(&s.transactions, 0);
    }
  }
  LWLockRelease(AddinShmemInitLock);
}

}  // namespace

void append_counters_request_shmem() {
  prev_request_hook = shmem_request_hook;
  shmem_request_hook = request_hook;
  prev_startup_hook = shmem_startup_hook;
  shmem_startup_hook = startup_hook;
}

void append_counters_note(int32 domain_id, int intents) {
  if (shared == nullptr) return;
  if (!callbacks_registered) {
    RegisterXactCallback(on_xact, nullptr);
    RegisterSubXactCallback(on_subxact, nullptr);
    callbacks_registered = true;
  }
  const int level = GetCurrentTransactionNestLevel();
  for (int i = ntally - 1; i >= 0; --i) {
    Tally& t = tally[i];
    if (t.domain_id == domain_id && t.level == level && !t.rolled_back) {
      t.intents += static_cast<uint64>(intents);
      return;
    }
  }
  if (ntally == tally_cap) {
    const int cap = tally_cap == 0 ? 8 : tally_cap * 2;
    tally = static_cast<Tally*>(tally == nullptr ? MemoryContextAlloc(TopMemoryContext, sizeof(Tally) * cap)
                                                 : repalloc(tally, sizeof(Tally) * cap));
    tally_cap = cap;
  }
  tally[ntally++] = Tally{domain_id, level, static_cast<uint64>(intents), false};
}

}  // namespace intentlog::pg

using namespace intentlog::pg;

// intentlog._append_counters() RETURNS TABLE (domain_id int, committed
// bigint, rolled_back bigint, transactions bigint): this database's slots.
INTENTLOG_FUNCTION(intentlog_append_counters) {
  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  InitMaterializedSRF(fcinfo, 0);
  if (shared == nullptr) return (Datum)0;
  if (pg_atomic_read_u64(&shared->unslotted) > 0)
    ereport(WARNING, (errmsg("intentlog append counters are full: some domains are not counted"),
                      errdetail("%u (database, domain) pairs are counted.", kSlots)));
  for (Slot& s : shared->slots) {
    const uint64 tag = pg_atomic_read_u64(&s.tag);
    if (tag == 0 || static_cast<Oid>(tag >> 32) != MyDatabaseId) continue;
    Datum values[4] = {Int32GetDatum(static_cast<int32>(tag & 0xFFFFFFFFULL)),
                       Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&s.committed))),
                       Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&s.rolled_back))),
                       Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&s.transactions)))};
    bool nulls[4] = {false, false, false, false};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return (Datum)0;
}

INTENTLOG_FUNCTION(intentlog_append_counters_kept) { PG_RETURN_BOOL(shared != nullptr); }

INTENTLOG_FUNCTION(intentlog_append_counters_reset) {
  if (shared == nullptr) PG_RETURN_VOID();
  if (Slot* s = find_slot(tag_of(MyDatabaseId, PG_GETARG_INT32(0)), false)) {
    pg_atomic_write_u64(&s->committed, 0);
    pg_atomic_write_u64(&s->rolled_back, 0);
    pg_atomic_write_u64(&s->transactions, 0);
  }
  PG_RETURN_VOID();
}
