// SegmentWriter: inserts intent rows straight into a hot segment, without
// the executor. Through SPI every append paid a whole executor start/run/end
// (61,500 of 143,000 instructions per append, measured with callgrind in
// bench/RESULTS.md), including re-reading the segment's CHECK constraint from
// its text each time. The rows are built by the extension itself, so the
// checks the executor would make hold by construction: partition is the
// segment's own, the NOT NULL columns are set.
#pragma once

#include "extension/pg.h"

extern "C" {
#include "nodes/execnodes.h"
}

namespace intentlog::pg {

// The columns of an intent row, in the domain table's order: partition, seq,
// xid, key, op, payload, schema_version, expected_version, headers,
// appended_at. The append path builds rows of this shape and the promotion
// copies them; a segment may have more columns (added by a DBA) after these.
constexpr int kIntentColumns = 10;

// Index metadata of one hot relation, built once per cache load.
struct SegmentIndexes {
  int count;
  Oid* oids;
  IndexInfo** infos;
};

// Reads the relation's indexes (plain column indexes only: intentlog creates
// them) into memory of `cxt`.
SegmentIndexes load_segment_indexes(Oid relid, MemoryContext cxt);

// Inserts one row (the domain table's columns in order; a relation with more
// columns added by a DBA gets NULLs there) into `relid`, which the caller has
// locked with RowExclusiveLock, and into each of its indexes.
void insert_intent_row(Oid relid, const SegmentIndexes& indexes, const Datum* values, const bool* nulls, int nvalues);

// Inserts `nrows` rows (row i's values at values[i * nvalues ...]) with one
// heap multi-insert (one WAL record per heap page, as COPY does), then their
// index entries.
void insert_intent_rows(Oid relid, const SegmentIndexes& indexes, const Datum* values, const bool* nulls, int nvalues,
                        int nrows);

}  // namespace intentlog::pg
