// The read path (DESIGN.md, "Read path: the snapshot cursor"): fetch and the
// cursor helpers. The cursor arithmetic lives in src/common/snapshot_cursor;
// this file runs the query in one snapshot and feeds it. The promotion of
// staged hot tables reads them through the same scan.
#include <algorithm>

#include "common/snapshot_cursor.h"
#include "common/validation.h"
#include "extension/domain_cache.h"
#include "extension/error_boundary.h"
#include "extension/segment_writer.h"
#include "extension/sql_errors.h"
#include "extension/wakeup.h"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/xlog.h"
#include "utils/acl.h"
#include "utils/fmgrprotos.h"
}

namespace intentlog::pg {
namespace {

constexpr int kMaxFetchRows = 100000;

// Cursor state in palloc'd memory, so it can live across PostgreSQL calls.
struct PlainCursor {
  int64 watermark;
  int npending;
  uint64* xids;
  int64* froms;
};

PlainCursor parse_or_raise(const char* cursor) {
  PlainCursor out{0, 0, nullptr, nullptr};
  bool ok = false;
  cxx_call([&] {
    auto c = intentlog::parse_cursor(cursor);
    if (!c) return;
    ok = true;
    out.watermark = c->watermark;
    out.npending = static_cast<int>(c->pending.size());
    out.xids = static_cast<uint64*>(alloc_or_throw(CurrentMemoryContext, sizeof(uint64) * (out.npending + 1)));
    out.froms = static_cast<int64*>(alloc_or_throw(CurrentMemoryContext, sizeof(int64) * (out.npending + 1)));
    for (int i = 0; i < out.npending; ++i) {
      out.xids[i] = c->pending[i].xid;
      out.froms[i] = c->pending[i].from_seq;
    }
  });
  if (!ok)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid intentlog cursor: \"%s\"", cursor)));
  return out;
}

// Full (epoch-extended) xid of a 32-bit xid that is recent relative to now.
uint64 widen_xid(TransactionId xid, FullTransactionId next) {
  uint32 epoch = EpochFromFullTransactionId(next);
  if (xid > XidFromFullTransactionId(next) && epoch > 0) epoch--;
  return (static_cast<uint64>(epoch) << 32) | xid;
}

// The snapshot's in-progress top-level xids, widened and sorted.
struct PlainSnapshot {
  uint64 xmin;
  uint64 xmax;
  uint64 next_xid;  // read after the snapshot: see SnapshotView::next_xid
  int nown;         // this transaction's own xids in [xmax, next_xid)
  uint64* own;
  int nxip;
  uint64* xip;
};

PlainSnapshot plain_snapshot(Snapshot snap) {
  FullTransactionId next = ReadNextFullTransactionId();
  PlainSnapshot s;
  s.xmin = widen_xid(snap->xmin, next);
  s.xmax = widen_xid(snap->xmax, next);
  s.nxip = static_cast<int>(snap->xcnt);
  s.next_xid = U64FromFullTransactionId(next);
  // Our own top-level xid and subtransactions see their rows: never pending.
  uint64 span = s.next_xid > s.xmax ? s.next_xid - s.xmax : 0;
  s.own = static_cast<uint64*>(palloc(sizeof(uint64) * (span + 1)));
  s.nown = 0;
  for (uint64 x = s.xmax; x < s.next_xid; ++x)
    if (TransactionIdIsCurrentTransactionId(static_cast<TransactionId>(x))) s.own[s.nown++] = x;
  s.xip = static_cast<uint64*>(palloc(sizeof(uint64) * (s.nxip + 1)));
  for (int i = 0; i < s.nxip; ++i) s.xip[i] = widen_xid(snap->xip[i], next);
  std::sort(s.xip, s.xip + s.nxip);
  return s;
}

// A plan prepared once per backend and kept (SPI_keepplan). PostgreSQL's
// plan cache revalidates kept plans when a relation they read changes (a
// segment added or dropped, a domain re-created), so they never go stale.
SPIPlanPtr keep_plan(SPIPlanPtr* slot, const char* sql, int nargs, Oid* types) {
  if (*slot == nullptr) {
    SPIPlanPtr plan = SPI_prepare(sql, nargs, types);
    if (plan == nullptr) elog(ERROR, "intentlog: cannot prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
    if (SPI_keepplan(plan) != 0) elog(ERROR, "intentlog: cannot keep plan");
    *slot = plan;
  }
  return *slot;
}

// The last seq the sequence `seq_rel` handed out, 0 before the first (as
// intentlog._last_seq). Needs SELECT or USAGE on it (pg_sequence_last_value's
// check). Sequences are not transactional: a caller that compares it with a
// snapshot reads it first, so that every seq at or below it belongs to a
// transaction the snapshot knows.
int64 last_seq_of(Oid seq_rel) {
  LOCAL_FCINFO(call, 1);
  InitFunctionCallInfoData(*call, nullptr, 1, InvalidOid, nullptr, nullptr);
  call->args[0].value = ObjectIdGetDatum(seq_rel);
  call->args[0].isnull = false;
  Datum v = pg_sequence_last_value(call);
  return call->isnull ? 0 : DatumGetInt64(v);  // null: never called
}

char* stored_cursor(const char* group, int32 domain_id, int partition) {
  static SPIPlanPtr plan = nullptr;
  Oid types[3] = {TEXTOID, INT4OID, INT4OID};
  Datum values[3] = {CStringGetTextDatum(group), Int32GetDatum(domain_id), Int32GetDatum(partition)};
  keep_plan(&plan,
            "SELECT watermark::text || CASE WHEN pending = '' THEN '' ELSE ';' || pending END FROM intentlog.cursors "
            "WHERE group_name = $1 AND domain_id = $2 AND partition = $3",
            3, types);
  int rc = SPI_execute_plan(plan, values, nullptr, true, 1);
  if (rc != SPI_OK_SELECT) elog(ERROR, "intentlog: cannot read cursor");
  if (SPI_processed == 0) return pstrdup("0");
  return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

Oid partition_parent(int32 domain_id, int partition) {
  static SPIPlanPtr plan = nullptr;
  Oid types[2] = {INT4OID, INT4OID};
  Datum values[2] = {Int32GetDatum(domain_id), Int32GetDatum(partition)};
  keep_plan(&plan, "SELECT parent_rel::oid FROM intentlog.partitions WHERE domain_id = $1 AND partition = $2", 2,
            types);
  int rc = SPI_execute_plan(plan, values, nullptr, true, 1);
  if (rc != SPI_OK_SELECT || SPI_processed != 1) elog(ERROR, "intentlog: partition %d missing from catalog", partition);
  bool isnull;
  return DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

void check_partition(const DomainEntry* d, int partition) {
  if (partition < 0 || partition >= d->partitions)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("domain \"%s\" has no partition %d", d->name, partition),
             errdetail("Its partitions are 0 to %d.", d->partitions - 1)));
}

void check_group(const char* group) {
  if (intentlog::check_group_name(group))
    ereport(ERROR, (errcode(ERRCODE_INVALID_NAME), errmsg("invalid consumer group name \"%s\"", group),
                    errdetail("Group names are 1 to 128 characters: letters, digits, '_', '.', ':' and '-'.")));
}

// The snapshot as src/common sees it (allocates: call inside cxx_call).
intentlog::SnapshotView view_of(const PlainSnapshot& snap) {
  intentlog::SnapshotView view;
  view.xmin = snap.xmin;
  view.xmax = snap.xmax;
  view.next_xid = snap.next_xid;
  view.own_xids.assign(snap.own, snap.own + snap.nown);
  view.xip.assign(snap.xip, snap.xip + snap.nxip);  // sorted by plain_snapshot
  return view;
}

// The next cursor, formatted in the caller's memory context.
char* next_cursor_text(const PlainCursor& before, const PlainSnapshot& snap, int nrows, const int64* seqs,
                       const uint64* xids, bool cut, MemoryContext cxt, int64 last_seq = -1) {
  return cxx_call([&] {
    intentlog::CursorState c;
    c.watermark = before.watermark;
    for (int i = 0; i < before.npending; ++i) c.pending.push_back({before.xids[i], before.froms[i]});
    const intentlog::SnapshotView view = view_of(snap);
    std::vector<intentlog::FetchedRow> rows;
    rows.reserve(nrows);
    for (int i = 0; i < nrows; ++i) rows.push_back({seqs[i], xids[i]});
    return copy_out(cxt, intentlog::format_cursor(intentlog::advance_cursor(c, view, rows, cut, last_seq)));
  });
}

Datum int8_array(const int64* v, int n) {
  Datum* d = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
  for (int i = 0; i < n; ++i) d[i] = Int64GetDatum(v[i]);
  return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

Datum xid8_array(const uint64* v, int n) {
  Datum* d = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
  for (int i = 0; i < n; ++i) d[i] = FullTransactionIdGetDatum(FullTransactionIdFromU64(v[i]));
  return PointerGetDatum(construct_array(d, n, XID8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

constexpr const char* kFetchColumns =
    "seq, key, op, payload, schema_version, expected_version, headers, appended_at, xid";
// kIntentColumns of them, in the domain table's order.
constexpr const char* kScanColumns =
    "partition, seq, xid, key, op, payload, schema_version, expected_version, headers, appended_at";
// The promotion's: kScanColumns and the row's ctid, which the promotion
// deletes it by.
constexpr const char* kPromoteColumns =
    "partition, seq, xid, key, op, payload, schema_version, expected_version, headers, appended_at, ctid";

// The scan plans of this backend, kept across calls: planning the query over
// a partition's segments costs several times more than running it for a
// small batch (0.25 ms against 0.05 ms for 10 rows). Two per (relation,
// select list), both generic plans: the common case, no pending xid that
// finished, is one ordered index range over the segments; with some, their
// rows are found in the primary key's range from the lowest of their
// `from`s to the watermark, filtered by xid, and sorted with the tail. Under
// load nearly every fetch has some, so this one is not planned per call
// either (a custom plan cost more than the scan). An entry whose relation
// was dropped and whose OID came back under another name is prepared again.
struct ScanPlanKey {
  Oid rel;
  const char* columns;  // kFetchColumns or kScanColumns
  bool pending;
};
struct ScanPlanEntry {
  ScanPlanKey key;                    // hash key
  char relname[4 * NAMEDATALEN + 8];  // quoted: each part may double its quotes
  SPIPlanPtr plan;
};
constexpr long kMaxScanPlans = 4096;  // then all are dropped and prepared again as used

HTAB* scan_plans() {
  static HTAB* plans = nullptr;
  if (plans == nullptr) {
    HASHCTL ctl;
    ctl.keysize = sizeof(ScanPlanKey);
    ctl.entrysize = sizeof(ScanPlanEntry);
    ctl.hcxt = TopMemoryContext;
    plans = hash_create("intentlog scan plans", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
  }
  return plans;
}

SPIPlanPtr scan_plan(Oid rel, const char* columns, bool pending) {
  HTAB* plans = scan_plans();
  char* name = get_rel_name(rel);
  if (name == nullptr) elog(ERROR, "intentlog: relation %u does not exist", rel);
  char* relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(rel)), name);
  if (strlen(relname) >= sizeof(ScanPlanEntry::relname)) elog(ERROR, "intentlog: relation name too long");
  ScanPlanKey key;
  memset(&key, 0, sizeof(key));
  key.rel = rel;
  key.columns = columns;
  key.pending = pending;
  bool found;
  auto* e = static_cast<ScanPlanEntry*>(hash_search(plans, &key, HASH_FIND, &found));
  if (found && strcmp(e->relname, relname) == 0) return e->plan;
  if (found) {
    SPI_freeplan(e->plan);
    hash_search(plans, &key, HASH_REMOVE, nullptr);
  }
  if (hash_get_num_entries(plans) >= kMaxScanPlans) {
    HASH_SEQ_STATUS it;
    hash_seq_init(&it, plans);
    while (auto* old = static_cast<ScanPlanEntry*>(hash_seq_search(&it))) {
      SPI_freeplan(old->plan);
      hash_search(plans, &old->key, HASH_REMOVE, nullptr);
    }
  }
  // The tail (seq > W, limited so the index scan stops early) and late
  // committers: rows of finished pending xids above their own `from` and at
  // or below W. $5, the lowest `from`, bounds the range the primary key
  // walks; segments have no xid index (every append would fill it, for
  // lookups that the range serves). Both parts select only `columns` (the
  // ctid only for the promotion).
  char* sql = pending ? psprintf(
                            "SELECT %s FROM ("
                            " (SELECT %s FROM %s WHERE seq > $1 ORDER BY seq LIMIT $4)"
                            " UNION ALL"
                            " (SELECT %s FROM %s t WHERE t.xid = ANY ($2) AND t.seq > $5 AND t.seq <= $1"
                            "   AND t.seq > (SELECT p.f FROM unnest($2, $3) AS p(x, f) WHERE p.x = t.xid LIMIT 1))"
                            ") s ORDER BY seq LIMIT $4",
                            columns, columns, relname, columns, relname)
                      : psprintf("SELECT %s FROM %s WHERE seq > $1 ORDER BY seq LIMIT $4", columns, relname);
  Oid types[5] = {INT8OID, XID8ARRAYOID, INT8ARRAYOID, INT4OID, INT8OID};
  SPIPlanPtr plan = SPI_prepare_cursor(sql, 5, types, CURSOR_OPT_GENERIC_PLAN);
  if (plan == nullptr) elog(ERROR, "intentlog: cannot prepare fetch: %s", SPI_result_code_string(SPI_result));
  if (SPI_keepplan(plan) != 0) elog(ERROR, "intentlog: cannot keep the fetch plan");
  e = static_cast<ScanPlanEntry*>(hash_search(plans, &key, HASH_ENTER, nullptr));
  strlcpy(e->relname, relname, sizeof(e->relname));
  e->plan = plan;
  return plan;
}

// Rows of one snapshot-cursor scan, in SPI memory (valid until SPI_finish),
// the full xids of their transactions (in row order) and the cursor after
// them (in the caller's context; null when no rows).
struct ScanRows {
  int count;
  SPITupleTable* rows;
  uint64* xids;
  char* next_cursor;
};

// The WAL position up to which the commits of `xids` must be flushed before
// their rows may leave: the highest commit LSN the commit log keeps for them.
// It keeps one for asynchronous commits only (synchronous_commit = off:
// visible before the WAL is flushed, and erased by a crash); a synchronous
// commit was flushed before anyone could see it. The commit log keeps it per
// group of 32 xids, so this may name a neighbour's later commit: a wait a
// little longer, never shorter. Transactions older than the commit log's
// horizon were flushed long ago.
XLogRecPtr commit_horizon(const uint64* xids, int n) {
  XLogRecPtr upto = InvalidXLogRecPtr;
  const uint64 next = U64FromFullTransactionId(ReadNextFullTransactionId());
  // Held as pg_xact_status holds it: the commit log is not truncated under us.
  LWLockAcquire(XactTruncationLock, LW_SHARED);
  const TransactionId oldest = ShmemVariableCache->oldestClogXid;
  uint64 prev = 0;
  for (int i = 0; i < n; ++i) {
    if (xids[i] == prev) continue;  // the rows of one transaction are often together
    prev = xids[i];
    if (next - xids[i] >= (static_cast<uint64>(1) << 31)) continue;  // older than any commit log
    auto xid = static_cast<TransactionId>(xids[i]);
    if (TransactionIdPrecedes(xid, oldest)) continue;
    XLogRecPtr lsn = TransactionIdGetCommitLSN(xid);
    if (lsn > upto) upto = lsn;
  }
  LWLockRelease(XactTruncationLock);
  return upto;
}

// Rows reach a consumer only once every commit they depend on is on disk, so
// a crash cannot erase what a consumer saw: flush the WAL up to the commits
// of asynchronous committers (free when there are none or they are flushed).
// The seqs of the rows become durable with them (their sequence's WAL record
// came before the rows), so no delivered seq is handed out again.
void make_durable(const ScanRows& s) {
  XLogRecPtr upto = commit_horizon(s.xids, s.count);
  if (!XLogRecPtrIsInvalid(upto)) XLogFlush(upto);
}

// The pending xids of `before` that `snap` shows finished, with their
// `from`s and the lowest of them (the watermark when none). Only their rows
// can have become visible: a pending xid still in progress in the snapshot
// has none to show, so the scan does not look for them, and the seq range it
// walks for late committers starts at the lowest `from` of those that
// finished, not of every transaction still open.
struct Finished {
  int count;
  uint64* xids;
  int64* froms;
  int64 lowest_from;
};

Finished finished_pending(const PlainCursor& before, const PlainSnapshot& snap) {
  Finished out{0, static_cast<uint64*>(palloc(sizeof(uint64) * (before.npending + 1))),
               static_cast<int64*>(palloc(sizeof(int64) * (before.npending + 1))), before.watermark};
  for (int i = 0; i < before.npending; ++i) {
    if (intentlog::xid_in_progress(snap.xmin, snap.xmax, snap.xip, snap.nxip, before.xids[i])) continue;
    out.xids[out.count] = before.xids[i];
    out.froms[out.count] = before.froms[i];
    out.lowest_from = std::min(out.lowest_from, before.froms[i]);
    ++out.count;
  }
  return out;
}

// Runs one scan of `rel` (a partition parent or a single relation) in one
// snapshot. `columns` is the select list; seq_col and xid_col are 1-based
// positions in it. `last_seq` (see advance_cursor), read before this call,
// lets the cursor move even when no row comes back.
ScanRows scan_rows(Oid rel, const PlainCursor& before, int max_rows, const char* columns, int seq_col, int xid_col,
                   MemoryContext caller_cxt, int64 last_seq = -1) {
  // One snapshot for the rows and for the in-progress xids that become pending.
  Snapshot snap = RegisterSnapshot(GetTransactionSnapshot());
  PlainSnapshot plain = plain_snapshot(snap);
  Finished late = finished_pending(before, plain);
  SPIPlanPtr plan = scan_plan(rel, columns, late.count > 0);
  Datum values[5] = {Int64GetDatum(before.watermark), xid8_array(late.xids, late.count),
                     int8_array(late.froms, late.count), Int32GetDatum(max_rows), Int64GetDatum(late.lowest_from)};
  int rc = SPI_execute_snapshot(plan, values, nullptr, snap, InvalidSnapshot, true, false, max_rows);
  if (rc != SPI_OK_SELECT) elog(ERROR, "intentlog: fetch failed: %s", SPI_result_code_string(rc));
  UnregisterSnapshot(snap);

  ScanRows out{static_cast<int>(SPI_processed), SPI_tuptable, nullptr, nullptr};
  if (out.count == 0) {
    // Nothing new: the caller keeps its cursor, unless last_seq moves it.
    if (last_seq > before.watermark)
      out.next_cursor = next_cursor_text(before, plain, 0, nullptr, nullptr, false, caller_cxt, last_seq);
    return out;
  }
  int n = out.count;
  int64* seqs = static_cast<int64*>(palloc(sizeof(int64) * n));
  uint64* xids = static_cast<uint64*>(palloc(sizeof(uint64) * n));
  bool isnull;
  for (int i = 0; i < n; ++i) {
    seqs[i] = DatumGetInt64(SPI_getbinval(out.rows->vals[i], out.rows->tupdesc, seq_col, &isnull));
    xids[i] = U64FromFullTransactionId(
        DatumGetFullTransactionId(SPI_getbinval(out.rows->vals[i], out.rows->tupdesc, xid_col, &isnull)));
  }
  out.xids = xids;
  out.next_cursor = next_cursor_text(before, plain, n, seqs, xids, n == max_rows, caller_cxt, last_seq);
  return out;
}

// Puts the rows of one scan into rsinfo, each followed by the next cursor
// (and by `tick` when non-null: intentlog.fetch_wait) and, when `ask` > 0
// (fetch_many, fetch_wait), preceded by it.
void emit_rows(const ScanRows& s, ReturnSetInfo* rsinfo, MemoryContext caller_cxt, int ask, const int64* tick) {
  if (s.count == 0) return;
  MemoryContext old = MemoryContextSwitchTo(caller_cxt);
  Datum next_datum = CStringGetTextDatum(s.next_cursor);
  MemoryContextSwitchTo(old);
  const int natts = s.rows->tupdesc->natts;
  const int first = ask > 0 ? 1 : 0;
  Datum* out = static_cast<Datum*>(palloc(sizeof(Datum) * (natts + 3)));
  bool* nulls = static_cast<bool*>(palloc(sizeof(bool) * (natts + 3)));
  out[0] = Int32GetDatum(ask);
  nulls[0] = false;
  if (tick != nullptr) {
    out[first + natts + 1] = Int64GetDatum(*tick);
    nulls[first + natts + 1] = false;
  }
  for (int i = 0; i < s.count; ++i) {
    heap_deform_tuple(s.rows->vals[i], s.rows->tupdesc, out + first, nulls + first);
    out[first + natts] = next_datum;
    nulls[first + natts] = false;
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
  }
}

void check_max_rows(int max_rows) {
  if (max_rows < 1 || max_rows > kMaxFetchRows)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("max_rows must be between 1 and %d, got %d", kMaxFetchRows, max_rows)));
}

// One partition's next intents through the snapshot cursor (from `cursor`,
// or the group's committed one when null) into rsinfo, inside SPI: the body
// of intentlog.fetch and of each ask of intentlog.fetch_many.
// Returns the number of rows.
int fetch_partition(const char* group, int32 domain_id, int partition, int max_rows, const char* cursor,
                    ReturnSetInfo* rsinfo, MemoryContext caller_cxt, int ask, const int64* tick = nullptr) {
  const char* cursor_text = cursor != nullptr ? cursor : stored_cursor(group, domain_id, partition);
  PlainCursor before = parse_or_raise(cursor_text);
  Oid parent = partition_parent(domain_id, partition);
  ScanRows rows = scan_rows(parent, before, max_rows, kFetchColumns, 1, 9, caller_cxt);
  make_durable(rows);
  emit_rows(rows, rsinfo, caller_cxt, ask, tick);
  SPI_freetuptable(rows.rows);
  return rows.count;
}

// What intentlog.fetch and intentlog.fetch_many do once their arguments are
// checked: the group's name, the primary, the result set, SPI (the caller
// calls SPI_finish) and the domain.
struct FetchCall {
  ReturnSetInfo* rsinfo;
  MemoryContext caller_cxt;  // the result's, outside SPI
  DomainEntry* domain;
};
FetchCall begin_fetch(FunctionCallInfo fcinfo, const char* group, const char* domain, const char* function) {
  check_group(group);
  if (RecoveryInProgress())
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("%s must run on the primary", function)));
  InitMaterializedSRF(fcinfo, 0);
  FetchCall call{reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo), CurrentMemoryContext, nullptr};
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "intentlog: SPI_connect failed");
  call.domain = lookup_domain(domain);
  return call;
}

// The asks of intentlog.fetch_many and fetch_wait: arguments 2, 3 and 4
// (partitions int[], max_rows int[], from_cursors text[]), checked but for
// the partitions, which need the domain (check_asked_partitions).
struct Asks {
  int n;
  Datum* partitions;
  Datum* max_rows;
  Datum* cursors;  // null: every ask starts at the group's committed cursor
  bool* cursor_nulls;

  int partition(int i) const { return DatumGetInt32(partitions[i]); }
  int rows(int i) const { return DatumGetInt32(max_rows[i]); }
  const char* cursor(int i) const {
    return cursors != nullptr && !cursor_nulls[i] ? TextDatumGetCString(cursors[i]) : nullptr;
  }
};

Asks read_asks(FunctionCallInfo fcinfo, const char* function) {
  if (PG_ARGISNULL(2)) null_argument("partitions");
  if (PG_ARGISNULL(3)) null_argument("max_rows");
  Asks a{0, nullptr, nullptr, nullptr, nullptr};
  bool* partition_nulls;
  bool* max_rows_nulls;
  int n_rows, n_cursors = 0;
  deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), INT4OID, 4, true, TYPALIGN_INT, &a.partitions, &partition_nulls, &a.n);
  deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), INT4OID, 4, true, TYPALIGN_INT, &a.max_rows, &max_rows_nulls, &n_rows);
  if (!PG_ARGISNULL(4))
    deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), TEXTOID, -1, false, TYPALIGN_INT, &a.cursors, &a.cursor_nulls,
                      &n_cursors);
  if (n_rows != a.n || (a.cursors != nullptr && n_cursors != a.n))
    ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("%s arrays must have the same length", function),
                    errdetail("partitions has %d elements, max_rows %d, from_cursors %d.", a.n, n_rows,
                              a.cursors != nullptr ? n_cursors : a.n)));
  for (int i = 0; i < a.n; ++i) {
    if (partition_nulls[i]) null_argument("partitions[]");
    if (max_rows_nulls[i]) null_argument("max_rows[]");
    check_max_rows(a.rows(i));
  }
  return a;
}

void check_asked_partitions(const FetchCall& call, const Asks& asks) {
  for (int i = 0; i < asks.n; ++i) check_partition(call.domain, asks.partition(i));
}

}  // namespace
}  // namespace intentlog::pg

using namespace intentlog::pg;

INTENTLOG_FUNCTION(intentlog_fetch) {
  if (PG_ARGISNULL(0)) null_argument("group_name");
  if (PG_ARGISNULL(1)) null_argument("domain");
  if (PG_ARGISNULL(2)) null_argument("partition");
  char* group = text_to_cstring(PG_GETARG_TEXT_PP(0));
  char* domain = text_to_cstring(PG_GETARG_TEXT_PP(1));
  int partition = PG_GETARG_INT32(2);
  int max_rows = PG_ARGISNULL(3) ? 1000 : PG_GETARG_INT32(3);
  check_max_rows(max_rows);
  const FetchCall call = begin_fetch(fcinfo, group, domain, "intentlog.fetch");
  check_partition(call.domain, partition);
  fetch_partition(group, call.domain->domain_id, partition, max_rows,
                  PG_ARGISNULL(4) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(4)), call.rsinfo, call.caller_cxt, 0);
  SPI_finish();
  return (Datum)0;
}

// intentlog.fetch_many(group, domain, partitions int[], max_rows int[],
// from_cursors text[]): intentlog.fetch of several partitions of one domain
// in one call, each row preceded by its ask's 1-based position. Each ask
// reads in its own snapshot, as separate fetches would. Everything is
// checked before anything is read.
INTENTLOG_FUNCTION(intentlog_fetch_many) {
  if (PG_ARGISNULL(0)) null_argument("group_name");
  if (PG_ARGISNULL(1)) null_argument("domain");
  char* group = text_to_cstring(PG_GETARG_TEXT_PP(0));
  char* domain = text_to_cstring(PG_GETARG_TEXT_PP(1));
  const Asks asks = read_asks(fcinfo, "fetch_many");
  const FetchCall call = begin_fetch(fcinfo, group, domain, "intentlog.fetch_many");
  check_asked_partitions(call, asks);
  for (int i = 0; i < asks.n; ++i)
    fetch_partition(group, call.domain->domain_id, asks.partition(i), asks.rows(i), asks.cursor(i), call.rsinfo,
                    call.caller_cxt, i + 1);
  SPI_finish();
  return (Datum)0;
}

// intentlog.fetch_wait(group, domain, partitions int[], max_rows int[],
// from_cursors text[], sinces bigint[], timeout_ms int): fetch_many of the
// asks that may have new rows, waiting for one (a long poll: the consumer's
// wake-up and its fetch in one statement). An ask is due when a transaction
// that appended to its partition committed after wake-up tick sinces[i]
// (the tick its from_cursor is current to), or when sinces[i] is negative
// (fetch now) or ahead of the current tick (the server restarted). Waits
// until an ask is due or timeout_ms passes, then reads the tick T and
// fetches the due asks; every row carries T, and the cursors of all the
// asks, fetched or not, are then current to it. With no rows, one row of
// ask 0 carries T. The wait holds no lock on the domain's tables.
INTENTLOG_FUNCTION(intentlog_fetch_wait) {
  if (PG_ARGISNULL(0)) null_argument("group_name");
  if (PG_ARGISNULL(1)) null_argument("domain");
  if (PG_ARGISNULL(5)) null_argument("sinces");
  char* group = text_to_cstring(PG_GETARG_TEXT_PP(0));
  char* domain = text_to_cstring(PG_GETARG_TEXT_PP(1));
  const Asks asks = read_asks(fcinfo, "fetch_wait");
  Datum* sinces;
  bool* since_nulls;
  int n_sinces;
  deconstruct_array(PG_GETARG_ARRAYTYPE_P(5), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &sinces, &since_nulls,
                    &n_sinces);
  if (n_sinces != asks.n)
    ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("fetch_wait arrays must have the same length"),
                    errdetail("partitions has %d elements, sinces %d.", asks.n, n_sinces)));
  for (int i = 0; i < asks.n; ++i)
    if (since_nulls[i]) null_argument("sinces[]");
  const int timeout_ms = PG_ARGISNULL(6) ? 0 : PG_GETARG_INT32(6);
  if (timeout_ms < 0 || timeout_ms > 600000)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("timeout_ms must be between 0 and 600000")));
  const FetchCall call = begin_fetch(fcinfo, group, domain, "intentlog.fetch_wait");
  check_asked_partitions(call, asks);
  const int32 domain_id = call.domain->domain_id;
  const TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
  bool* due = static_cast<bool*>(palloc0(sizeof(bool) * Max(asks.n, 1)));
  // Without shared memory every ask is due, but only after a short poll.
  bool polled = wakeup_shared();
  int64 tick;
  for (;;) {
    tick = static_cast<int64>(wakeup_tick());  // before the stamps and before the fetches' snapshots
    bool any = false;
    for (int i = 0; i < asks.n; ++i) {
      const int64 since = DatumGetInt64(sinces[i]);
      due[i] =
          since < 0 ||
          (polled && (since > tick || wakeup_stamped_since(domain_id, asks.partition(i), static_cast<uint64>(since))));
      any = any || due[i];
    }
    if (any || GetCurrentTimestamp() >= deadline) break;
    // Woken by this database's appending commits; most are of other
    // partitions: look at the stamps again.
    (void)wakeup_wait_beyond(static_cast<uint64>(tick), deadline);
    polled = true;
  }
  int rows = 0;
  for (int i = 0; i < asks.n; ++i)
    if (due[i])
      rows += fetch_partition(group, domain_id, asks.partition(i), asks.rows(i), asks.cursor(i), call.rsinfo,
                              call.caller_cxt, i + 1, &tick);
  if (rows == 0) {
    const int natts = call.rsinfo->setDesc->natts;
    Datum* values = static_cast<Datum*>(palloc0(sizeof(Datum) * natts));
    bool* nulls = static_cast<bool*>(palloc(sizeof(bool) * natts));
    for (int i = 0; i < natts; ++i) nulls[i] = true;
    values[0] = Int32GetDatum(0);
    nulls[0] = false;
    values[natts - 1] = Int64GetDatum(tick);
    nulls[natts - 1] = false;
    tuplestore_putvalues(call.rsinfo->setResult, call.rsinfo->setDesc, values, nulls);
  }
  SPI_finish();
  return (Datum)0;
}

// The last seq handed out by the partition whose hot table is `hot` (inside
// SPI), -1 for a table that is no staged partition's hot table. Read it
// before taking a snapshot (see last_seq_of).
int64 hot_partition_last_seq(Oid hot) {
  static SPIPlanPtr plan = nullptr;
  Oid types[1] = {OIDOID};
  Datum args[1] = {ObjectIdGetDatum(hot)};
  keep_plan(&plan, "SELECT seq_rel::oid FROM intentlog.partitions WHERE hot_rel = $1::regclass", 1, types);
  int rc = SPI_execute_plan(plan, args, nullptr, true, 1);
  if (rc != SPI_OK_SELECT) elog(ERROR, "intentlog: cannot read the partition of \"%s\"", get_rel_name(hot));
  if (SPI_processed != 1) return -1;  // only its own rows count
  bool isnull;
  Datum seq_rel = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
  return last_seq_of(DatumGetObjectId(seq_rel));
}

// Internal: moves the committed rows of a staged hot table that its snapshot
// cursor has not passed yet into a logged segment, in one transaction: one
// heap multi-insert into the segment (one WAL record per page, as COPY does)
// and the same rows deleted from the hot table by their ctids (no index
// descent per row, no executor: a DELETE through SPI was a quarter of the
// promotion, most of it finding each seq in the hot table's index). Rows of
// transactions still open stay behind as pending in the cursor and move once
// they commit; nobody waits. Returns (moved, next_cursor); next_cursor is
// null when the cursor stays. The caller serializes promoters of one
// partition.
INTENTLOG_FUNCTION(intentlog_promote_rows) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
    null_argument("hot, durable, cursor and max_rows");
  Oid hot = PG_GETARG_OID(0);
  Oid durable = PG_GETARG_OID(1);
  char* cursor_text = text_to_cstring(PG_GETARG_TEXT_PP(2));
  int max_rows = PG_GETARG_INT32(3);
  if (max_rows < 1 || max_rows > kMaxFetchRows)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("max_rows must be between 1 and %d", kMaxFetchRows)));
  TupleDesc result_desc;
  if (get_call_result_type(fcinfo, nullptr, &result_desc) != TYPEFUNC_COMPOSITE)
    elog(ERROR, "intentlog: bad return type");
  // The rows go into the segment and leave the hot table without the
  // executor, so without its permission checks: make them here.
  AclResult acl = pg_class_aclcheck(durable, GetUserId(), ACL_INSERT);
  if (acl != ACLCHECK_OK) aclcheck_error(acl, OBJECT_TABLE, get_rel_name(durable));
  acl = pg_class_aclcheck(hot, GetUserId(), ACL_DELETE);
  if (acl != ACLCHECK_OK) aclcheck_error(acl, OBJECT_TABLE, get_rel_name(hot));
  MemoryContext caller_cxt = CurrentMemoryContext;
  PlainCursor before = parse_or_raise(cursor_text);
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "intentlog: SPI_connect failed");
  // Rows that went straight to a segment are not the promoter's: its cursor
  // moves over them (up to the last seq, read before the scan's snapshot),
  // so that a crash gap starts no lower than what the hot table may have
  // lost.
  const int64 last_seq = hot_partition_last_seq(hot);
  ScanRows s = scan_rows(hot, before, max_rows, kPromoteColumns, 2, 3, caller_cxt, last_seq);
  if (s.count > 0) {
    constexpr int kCtidColumn = kIntentColumns;  // 0-based, after the intent's columns
    if (s.rows->tupdesc->natts != kIntentColumns + 1) elog(ERROR, "intentlog: unexpected scan shape");
    Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * kIntentColumns * s.count));
    bool* nulls = static_cast<bool*>(palloc(sizeof(bool) * kIntentColumns * s.count));
    ItemPointerData* ctids = static_cast<ItemPointerData*>(palloc(sizeof(ItemPointerData) * s.count));
    Datum row[kIntentColumns + 1];
    bool row_nulls[kIntentColumns + 1];
    for (int i = 0; i < s.count; ++i) {
      heap_deform_tuple(s.rows->vals[i], s.rows->tupdesc, row, row_nulls);
      memcpy(values + i * kIntentColumns, row, sizeof(Datum) * kIntentColumns);
      memcpy(nulls + i * kIntentColumns, row_nulls, sizeof(bool) * kIntentColumns);
      ItemPointerCopy(reinterpret_cast<ItemPointer>(DatumGetPointer(row[kCtidColumn])), &ctids[i]);
    }
    LockRelationOid(durable, RowExclusiveLock);
    SegmentIndexes indexes = load_segment_indexes(durable, CurrentMemoryContext);
    insert_intent_rows(durable, indexes, values, nulls, kIntentColumns, s.count);
    // The same rows leave the hot table in the same transaction: a reader
    // sees each intent in exactly one of the two. Nobody else deletes or
    // updates hot rows (promoters of a partition are serialized), so a row
    // the scan saw is still at its ctid; if not, nothing is promoted.
    Relation hot_rel = table_open(hot, RowExclusiveLock);
    const CommandId cid = GetCurrentCommandId(true);
    for (int i = 0; i < s.count; ++i) {
      TM_FailureData failure;
      TM_Result r = heap_delete(hot_rel, &ctids[i], cid, InvalidSnapshot, true, &failure, false);
      if (r != TM_Ok)
        ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                        errmsg("intentlog promotion of \"%s\" could not remove row %d of its %d rows",
                               RelationGetRelationName(hot_rel), i + 1, s.count),
                        errdetail("Another session changed the hot table; nothing was promoted.")));
    }
    table_close(hot_rel, NoLock);
  }
  SPI_finish();
  Datum out[2] = {Int64GetDatum(s.count), s.next_cursor != nullptr ? CStringGetTextDatum(s.next_cursor) : (Datum)0};
  bool out_nulls[2] = {false, s.next_cursor == nullptr};
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(result_desc), out, out_nulls)));
}

// Internal: whether a promotion of `hot` from `cursor` would do something,
// for maintenance to skip the lock and the xid of a round with nothing to
// move: seqs went straight to a segment past the cursor's watermark (the
// promoter's cursor is to step over them), or the hot table has a row for
// it. The rows: the tail first, on the kept generic plan (under load it has
// rows); then the pending xids. A plain EXISTS over the table would walk the
// dead rows of earlier promotions from the start until vacuum removes them:
// 4.4 ms for a hot table of 1,300 rows and 2,900 dead ones, under load.
// 0.1's SQL declares it with two arguments (hot, cursor): the library serves
// that install until ALTER EXTENSION UPDATE, and looks the sequence up then.
INTENTLOG_FUNCTION(intentlog_promotable) {
  const bool has_seq_rel = PG_NARGS() > 2;
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || (has_seq_rel && PG_ARGISNULL(2))) null_argument("hot, cursor and seq_rel");
  Oid hot = PG_GETARG_OID(0);
  char* cursor_text = text_to_cstring(PG_GETARG_TEXT_PP(1));
  MemoryContext caller_cxt = CurrentMemoryContext;
  PlainCursor before = parse_or_raise(cursor_text);
  if (has_seq_rel && last_seq_of(PG_GETARG_OID(2)) > before.watermark) PG_RETURN_BOOL(true);
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "intentlog: SPI_connect failed");
  if (!has_seq_rel && hot_partition_last_seq(hot) > before.watermark) {
    SPI_finish();
    PG_RETURN_BOOL(true);
  }
  PlainCursor tail = before;
  tail.npending = 0;
  bool found = scan_rows(hot, tail, 1, kScanColumns, 2, 3, caller_cxt).count > 0;
  if (!found && before.npending > 0) found = scan_rows(hot, before, 1, kScanColumns, 2, 3, caller_cxt).count > 0;
  SPI_finish();
  PG_RETURN_BOOL(found);
}

INTENTLOG_FUNCTION(intentlog_latest_cursor) {
  if (PG_ARGISNULL(0)) null_argument("domain");
  if (PG_ARGISNULL(1)) null_argument("partition");
  char* domain = text_to_cstring(PG_GETARG_TEXT_PP(0));
  int partition = PG_GETARG_INT32(1);
  MemoryContext caller_cxt = CurrentMemoryContext;
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "intentlog: SPI_connect failed");
  DomainEntry* d = lookup_domain(domain);
  check_partition(d, partition);
  // Read the seq first, then take the snapshot: a transaction holding a seq
  // at or below it had its xid already, so the snapshot shows it committed
  // (its rows are behind us), aborted, or in progress (pending: still read).
  const int64 last = last_seq_of(d->parts[partition].seq_rel);
  Snapshot snap = GetLatestSnapshot();
  PlainSnapshot plain = plain_snapshot(snap);
  char* next = cxx_call(
      [&] { return copy_out(caller_cxt, intentlog::format_cursor(intentlog::latest_cursor(last, view_of(plain)))); });
  SPI_finish();
  PG_RETURN_TEXT_P(cstring_to_text(next));
}

INTENTLOG_FUNCTION(intentlog_valid_cursor) {
  char* cursor = text_to_cstring(PG_GETARG_TEXT_PP(0));
  PG_RETURN_BOOL(cxx_call([&] { return intentlog::parse_cursor(cursor).has_value(); }));
}
