// DomainCache: per-backend cache of domain settings and append targets, so
// the append path touches no catalog table. Invalidated through relcache
// callbacks: maintenance invalidates a partition's hot relation when it
// rotates it, and any change to intentlog.domains invalidates everything.
#pragma once

#include "extension/pg.h"
#include "extension/segment_writer.h"

namespace intentlog::pg {

struct PartitionTarget {
  Oid hot_rel;
  Oid seq_rel;
  bool indexes_loaded;
  SegmentIndexes indexes;  // of hot_rel, for the direct insert
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

// Locks the partition's hot relation for insert and returns its target; if a
// rotation made the cached target stale, reloads and locks the new one.
PartitionTarget* lock_append_target(DomainEntry* entry, int partition);

void register_cache_callbacks();

// A number that changes whenever intentlog.domains may have changed (a domain
// created, dropped or altered, the extension re-created): what a backend read
// from the catalog under an older number may be stale. Processes pending
// invalidations first; call it inside a transaction.
uint64 domains_generation();

}  // namespace intentlog::pg
