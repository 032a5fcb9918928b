// The schema registry's hook into the append path (docs/DESIGN.md, "Schemas").
// The domain cache carries the domain's current schema version and whether it
// validates payloads; the append path calls check_payload_schema() only when it
// does, so unvalidated domains pay nothing per append.
#pragma once

#include "extension/domain_cache.h"

namespace intentlog::pg {

// Raises 22P03 unless `payload` is a complete message of schema version
// d->schema_version of the domain (no undefined field at any depth). Must be
// called inside SPI_connect()/SPI_finish() with d->schema_version > 0.
void check_payload_schema(const DomainEntry* d, bytea* payload);

}  // namespace intentlog::pg
