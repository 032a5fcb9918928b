#include "extension/domain_cache.h"

#include <initializer_list>

extern "C" {
#include "utils/syscache.h"
}

namespace intentlog::pg {
namespace {

HTAB* domains_by_name = nullptr;
HTAB* domain_of_rel = nullptr;  // append relation oid (hot or durable) -> domain name
MemoryContext cache_cxt = nullptr;
Oid domains_table_oid = InvalidOid;
uint64 domains_changes = 1;  // bumped by every invalidation of intentlog.domains

struct RelMapEntry {
  Oid rel;  // hash key
  char domain[NAMEDATALEN];
};

void ensure_tables() {
  if (domains_by_name != nullptr) return;
  cache_cxt = AllocSetContextCreate(CacheMemoryContext, "intentlog domain cache", ALLOCSET_SMALL_SIZES);
  HASHCTL ctl;
  memset(&ctl, 0, sizeof(ctl));
  ctl.keysize = NAMEDATALEN;
  ctl.entrysize = sizeof(DomainEntry);
  ctl.hcxt = cache_cxt;
  domains_by_name = hash_create("intentlog domains", 16, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
  memset(&ctl, 0, sizeof(ctl));
  ctl.keysize = sizeof(Oid);
  ctl.entrysize = sizeof(RelMapEntry);
  ctl.hcxt = cache_cxt;
  domain_of_rel = hash_create("intentlog hot relations", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

void invalidate_all() {
  HASH_SEQ_STATUS it;
  hash_seq_init(&it, domains_by_name);
  for (auto* e = static_cast<DomainEntry*>(hash_seq_search(&it)); e != nullptr;
       e = static_cast<DomainEntry*>(hash_seq_search(&it)))
    e->valid = false;
}

// Relcache callback: runs inside AcceptInvalidationMessages, so it must not
// touch the database; it only marks entries stale.
void relcache_callback(Datum, Oid relid) {
  const bool domains = relid == InvalidOid || relid == domains_table_oid;
  if (domains) ++domains_changes;
  if (domains_by_name == nullptr) return;
  if (domains) {
    invalidate_all();
    return;
  }
  auto* m = static_cast<RelMapEntry*>(hash_search(domain_of_rel, &relid, HASH_FIND, nullptr));
  if (m == nullptr) return;
  auto* e = static_cast<DomainEntry*>(hash_search(domains_by_name, m->domain, HASH_FIND, nullptr));
  if (e != nullptr) e->valid = false;
}

void release_targets(DomainEntry* e) {
  if (e->parts == nullptr) return;
  for (int i = 0; i < e->partitions; ++i) {
    for (Oid rel : {e->parts[i].hot.rel, e->parts[i].durable.rel})
      hash_search(domain_of_rel, &rel, HASH_REMOVE, nullptr);
  }
  MemoryContextDelete(e->parts_cxt);
  e->parts_cxt = nullptr;
  e->parts = nullptr;
}

// Reads the domain with the latest snapshot: a REPEATABLE READ caller must
// still see a rotation that committed after its transaction began.
int run_latest(const char* sql, int nargs, Oid* types, Datum* values) {
  SPIPlanPtr plan = SPI_prepare(sql, nargs, types);
  if (plan == nullptr) elog(ERROR, "intentlog: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
  int rc = SPI_execute_snapshot(plan, values, nullptr, GetLatestSnapshot(), InvalidSnapshot, true, false, 0);
  if (rc != SPI_OK_SELECT) elog(ERROR, "intentlog: catalog query failed: %s", SPI_result_code_string(rc));
  SPI_freeplan(plan);
  return static_cast<int>(SPI_processed);
}

void load(DomainEntry* e) {
  if (domains_table_oid == InvalidOid) {
    Oid nsp = get_namespace_oid("intentlog", false);
    domains_table_oid = get_relname_relid("domains", nsp);
  }
  Oid argtypes[1] = {TEXTOID};
  Datum args[1] = {CStringGetTextDatum(e->name)};
  int n = run_latest(
      "SELECT domain_id, partitions, durability = 'staged', max_key_bytes, max_payload_bytes, "
      "max_headers_bytes, validate_payloads, "
      "(SELECT coalesce(max(s.version), 0) FROM intentlog.schemas s WHERE s.domain_id = d.domain_id) "
      "FROM intentlog.domains d WHERE name = $1",
      1, argtypes, args);
  if (n == 0) {
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("intentlog domain \"%s\" does not exist", e->name),
                    errhint("Create it with intentlog.create_domain().")));
  }
  HeapTuple tup = SPI_tuptable->vals[0];
  TupleDesc desc = SPI_tuptable->tupdesc;
  bool isnull;
  int32 domain_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
  int32 partitions = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
  bool staged = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
  int32 max_key = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
  int32 max_payload = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
  int32 max_headers = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
  bool validate_payloads = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
  int32 schema_version = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));

  if (staged) {
    // A backend that starts after a crash must not append before the lost
    // staged window is recorded and the seqs moved past it.
    int rc = SPI_execute("SELECT intentlog._recover_after_crash()", false, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "intentlog: crash check failed");
  }

  Oid argtypes2[1] = {INT4OID};
  Datum args2[1] = {Int32GetDatum(domain_id)};
  n = run_latest(
      "SELECT partition, hot_rel::oid, seq_rel::oid, durable_rel::oid FROM intentlog.partitions WHERE domain_id = $1 "
      "ORDER BY partition",
      1, argtypes2, args2);
  if (n != partitions)
    elog(ERROR, "intentlog: domain \"%s\" has %d partitions in its catalog, expected %d", e->name, n, partitions);

  release_targets(e);
  e->parts_cxt = AllocSetContextCreate(cache_cxt, "intentlog domain", ALLOCSET_SMALL_SIZES);
  auto* parts = static_cast<PartitionTarget*>(MemoryContextAllocZero(e->parts_cxt, sizeof(PartitionTarget) * n));
  for (int i = 0; i < n; ++i) {
    HeapTuple t = SPI_tuptable->vals[i];
    parts[i].hot.rel = DatumGetObjectId(SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &isnull));
    parts[i].seq_rel = DatumGetObjectId(SPI_getbinval(t, SPI_tuptable->tupdesc, 3, &isnull));
    parts[i].durable.rel = DatumGetObjectId(SPI_getbinval(t, SPI_tuptable->tupdesc, 4, &isnull));
  }
  e->parts = parts;
  e->domain_id = domain_id;
  e->partitions = partitions;
  e->staged = staged;
  e->max_key_bytes = max_key;
  e->max_payload_bytes = max_payload;
  e->max_headers_bytes = max_headers;
  e->schema_version = schema_version;
  e->validate_payloads = validate_payloads && schema_version > 0;
  // Either relation's invalidation (maintenance rotating it) reloads the entry.
  for (int i = 0; i < n; ++i) {
    for (Oid rel : {parts[i].hot.rel, parts[i].durable.rel}) {
      bool found;
      auto* m = static_cast<RelMapEntry*>(hash_search(domain_of_rel, &rel, HASH_ENTER, &found));
      strlcpy(m->domain, e->name, NAMEDATALEN);
    }
  }
  e->valid = true;
}

}  // namespace

uint64 domains_generation() {
  if (domains_table_oid == InvalidOid) {
    Oid nsp = get_namespace_oid("intentlog", true);
    if (nsp != InvalidOid) domains_table_oid = get_relname_relid("domains", nsp);
    ++domains_changes;  // nothing read before this was watched
  } else if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(domains_table_oid))) {
    domains_table_oid = InvalidOid;  // the extension was dropped: watch its next table
    ++domains_changes;
  }
  AcceptInvalidationMessages();
  return domains_changes;
}

void register_cache_callbacks() { CacheRegisterRelcacheCallback(relcache_callback, (Datum)0); }

DomainEntry* lookup_domain(const char* name) {
  ensure_tables();
  if (strlen(name) >= NAMEDATALEN)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("intentlog domain \"%s\" does not exist", name)));
  bool found;
  auto* e = static_cast<DomainEntry*>(hash_search(domains_by_name, name, HASH_ENTER, &found));
  if (!found) {
    e->valid = false;
    e->parts = nullptr;
    e->parts_cxt = nullptr;
    e->partitions = 0;
  }
  if (!e->valid) {
    PG_TRY();
    { load(e); }
    PG_CATCH();
    {
      // Forget the half-made entry (an unknown domain must not linger).
      release_targets(e);
      hash_search(domains_by_name, name, HASH_REMOVE, nullptr);
      PG_RE_THROW();
    }
    PG_END_TRY();
  }
  return e;
}

const AppendRel* lock_append_target(DomainEntry* entry, int partition, bool durable) {
  for (int attempt = 0;; ++attempt) {
    Oid rel = durable ? entry->parts[partition].durable.rel : entry->parts[partition].hot.rel;
    // Taking the lock processes pending invalidations; if they made this
    // entry stale the relation is no longer the append target.
    LockRelationOid(rel, RowExclusiveLock);
    if (entry->valid) break;
    UnlockRelationOid(rel, RowExclusiveLock);
    if (attempt > 100) elog(ERROR, "intentlog: append target of domain \"%s\" keeps changing", entry->name);
    load(entry);
  }
  AppendRel* t = durable ? &entry->parts[partition].durable : &entry->parts[partition].hot;
  if (!t->indexes_loaded) {
    t->indexes = load_segment_indexes(t->rel, entry->parts_cxt);
    t->indexes_loaded = true;
  }
  return t;
}

}  // namespace intentlog::pg
