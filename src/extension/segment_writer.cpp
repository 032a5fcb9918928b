#include "extension/segment_writer.h"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "catalog/index.h"
#include "executor/tuptable.h"
#include "utils/rel.h"
}

namespace intentlog::pg {

SegmentIndexes load_segment_indexes(Oid relid, MemoryContext cxt) {
  SegmentIndexes out{0, nullptr, nullptr};
  Relation rel = table_open(relid, AccessShareLock);
  List* index_oids = RelationGetIndexList(rel);
  MemoryContext old = MemoryContextSwitchTo(cxt);
  out.count = list_length(index_oids);
  out.oids = static_cast<Oid*>(palloc0(sizeof(Oid) * (out.count + 1)));
  out.infos = static_cast<IndexInfo**>(palloc0(sizeof(IndexInfo*) * (out.count + 1)));
  MemoryContextSwitchTo(old);
  int i = 0;
  ListCell* lc;
  foreach (lc, index_oids) {
    Oid index_oid = lfirst_oid(lc);
    Relation irel = index_open(index_oid, AccessShareLock);
    old = MemoryContextSwitchTo(cxt);
    IndexInfo* info = BuildIndexInfo(irel);
    MemoryContextSwitchTo(old);
    if (info->ii_Expressions != NIL || info->ii_Predicate != NIL || info->ii_ExclusionOps != nullptr)
      ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                      errmsg("intentlog segment \"%s\" has index \"%s\" with expressions, a predicate or exclusion",
                             RelationGetRelationName(rel), RelationGetRelationName(irel)),
                      errhint("Segments may carry plain column indexes only.")));
    out.oids[i] = index_oid;
    out.infos[i] = info;
    ++i;
    index_close(irel, AccessShareLock);
  }
  list_free(index_oids);
  table_close(rel, AccessShareLock);
  return out;
}

namespace {

// A heap tuple of the relation's shape: the intent's columns, then NULL for
// any column a DBA added to the domain table.
HeapTuple form_row(TupleDesc desc, const Datum* values, const bool* nulls, int nvalues) {
  int natts = desc->natts;
  Datum* v = static_cast<Datum*>(palloc(sizeof(Datum) * natts));
  bool* n = static_cast<bool*>(palloc(sizeof(bool) * natts));
  for (int i = 0; i < natts; ++i) {
    bool have = i < nvalues && !TupleDescAttr(desc, i)->attisdropped;
    v[i] = have ? values[i] : (Datum)0;
    n[i] = have ? nulls[i] : true;
  }
  HeapTuple tuple = heap_form_tuple(desc, v, n);
  pfree(v);
  pfree(n);
  return tuple;
}

// Index entries for rows already in the heap at tids[i].
void insert_index_entries(Relation rel, const SegmentIndexes& indexes, HeapTuple* tuples, ItemPointer* tids,
                          int nrows) {
  TupleDesc desc = RelationGetDescr(rel);
  for (int i = 0; i < indexes.count; ++i) {
    Relation irel = index_open(indexes.oids[i], RowExclusiveLock);
    IndexInfo* info = indexes.infos[i];
    // The primary key on seq is checked for uniqueness as the executor would.
    IndexUniqueCheck check = irel->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO;
    for (int r = 0; r < nrows; ++r) {
      Datum key_values[INDEX_MAX_KEYS];
      bool key_nulls[INDEX_MAX_KEYS];
      for (int k = 0; k < info->ii_NumIndexAttrs; ++k)
        key_values[k] = heap_getattr(tuples[r], info->ii_IndexAttrNumbers[k], desc, &key_nulls[k]);
      (void)index_insert(irel, key_values, key_nulls, tids[r], rel, check, false, info);
    }
    index_close(irel, NoLock);
  }
}

}  // namespace

void insert_intent_row(Oid relid, const SegmentIndexes& indexes, const Datum* values, const bool* nulls, int nvalues) {
  Relation rel = table_open(relid, NoLock);  // the caller holds RowExclusiveLock
  HeapTuple tuple = form_row(RelationGetDescr(rel), values, nulls, nvalues);
  heap_insert(rel, tuple, GetCurrentCommandId(true), 0, nullptr);
  ItemPointer tid = &tuple->t_self;
  insert_index_entries(rel, indexes, &tuple, &tid, 1);
  heap_freetuple(tuple);
  table_close(rel, NoLock);
}

void insert_intent_rows(Oid relid, const SegmentIndexes& indexes, const Datum* values, const bool* nulls, int nvalues,
                        int nrows) {
  if (nrows == 1) {
    insert_intent_row(relid, indexes, values, nulls, nvalues);
    return;
  }
  // At most kChunkRows slots, reused chunk after chunk (as COPY does): every
  // slot pins the relation's descriptor in the resource owner, whose release
  // searches linearly, so one slot per row made 44,000 rows take 1.7 s.
  constexpr int kChunkRows = 1000;
  Relation rel = table_open(relid, NoLock);  // the caller holds RowExclusiveLock
  TupleDesc desc = RelationGetDescr(rel);
  int nslots = Min(nrows, kChunkRows);
  auto** slots = static_cast<TupleTableSlot**>(palloc(sizeof(TupleTableSlot*) * nslots));
  auto** tuples = static_cast<HeapTuple*>(palloc(sizeof(HeapTuple) * nslots));
  auto** tids = static_cast<ItemPointer*>(palloc(sizeof(ItemPointer) * nslots));
  for (int i = 0; i < nslots; ++i) slots[i] = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
  for (int start = 0; start < nrows; start += nslots) {
    int count = Min(nslots, nrows - start);
    for (int i = 0; i < count; ++i) {
      int r = start + i;
      tuples[i] = form_row(desc, values + r * nvalues, nulls + r * nvalues, nvalues);
      ExecStoreHeapTuple(tuples[i], slots[i], false);
    }
    heap_multi_insert(rel, slots, count, GetCurrentCommandId(true), 0, nullptr);
    for (int i = 0; i < count; ++i) tids[i] = &slots[i]->tts_tid;
    insert_index_entries(rel, indexes, tuples, tids, count);
    for (int i = 0; i < count; ++i) {
      ExecClearTuple(slots[i]);
      heap_freetuple(tuples[i]);
    }
  }
  // Newest first: the resource owner finds each pin at the end of its list.
  for (int i = nslots - 1; i >= 0; --i) ExecDropSingleTupleTableSlot(slots[i]);
  pfree(slots);
  pfree(tuples);
  pfree(tids);
  table_close(rel, NoLock);
}

}  // namespace intentlog::pg
