// DomainCache: per-backend cache of domain settings and append targets, so
// the append path touches no catalog table. Invalidated through relcache
// callbacks: maintenance invalidates a partition's hot relation when it
// rotates it, and any change to intentlog.domains invalidates everything.
#pragma once

#include "extension/pg.h"
#include "extension/segment_writer.h"

namespace intentlog::pg {

// Where a partition's appends go. For a durable domain both relations are
// its current logged segment; for a staged domain hot_rel is its unlogged
// hot table and durable_rel the logged segment that promotion fills, which
// an append uses when its transaction flushes the WAL at commit anyway
// (append.cpp, staged_target).
struct AppendRel {
  Oid rel;
  bool indexes_loaded;
  SegmentIndexes indexes;  // of rel, for the direct insert
};

struct PartitionTarget {
  AppendRel hot;
  AppendRel durable;
  Oid seq_rel;
};

struct DomainEntry {
  char name[NAMEDATALEN];  // hash key
  bool valid;
  int32 domain_id;
  int32 partitions;
  bool staged;
  int32 max_key_bytes;
  int32 max_payload_bytes;
  int32 max_headers_bytes;
  int32 schema_version;     // current version in intentlog.schemas, 0: none
  bool validate_payloads;   // appends must parse as that version (schema_registry.h)
  PartitionTarget* parts;   // [partitions], in parts_cxt
  MemoryContext parts_cxt;  // everything a load allocates; deleted on reload
};

// The domain's entry, loaded if missing or stale. Raises 42704 for an unknown
// domain. Must be called inside SPI_connect()/SPI_finish().
DomainEntry* lookup_domain(const char* name);

// Locks the partition's hot relation (durable: its durable one) for insert
// and returns it, indexes loaded; if a rotation made the cached target stale,
// reloads and locks the new one. Lock the hot one first: its seq_rel is the
// partition's.
const AppendRel* lock_append_target(DomainEntry* entry, int partition, bool durable = false);

void register_cache_callbacks();

// A number that changes whenever intentlog.domains may have changed (a domain
// created, dropped or altered, the extension re-created): what a backend read
// from the catalog under an older number may be stale. Processes pending
// invalidations first; call it inside a transaction.
uint64 domains_generation();

}  // namespace intentlog::pg
