// The append path (docs/DESIGN.md, "Append path"): intent_append and its batch form.
#include <algorithm>

#include "common/partitioner.h"
#include "common/validation.h"
#include "extension/append_counters.h"
#include "extension/domain_cache.h"
#include "extension/error_boundary.h"
#include "extension/schema_registry.h"
#include "extension/sql_errors.h"
#include "extension/wakeup.h"

extern "C" {
#include "access/xlog.h"
}

namespace intentlog::pg {
namespace {

// Locks of one domain's keys, distinct from application advisory locks
// (which use field4 1 and 2); visible in pg_locks as advisory locks.
constexpr uint16 kKeyLockSpace = 0x494c;  // "IL"

uint32 key_lock_hash(const char* key, size_t len) { return static_cast<uint32>(fnv1a64(key, len) >> 32); }

// Transaction-scoped lock on (domain, key): two transactions appending the
// same key commit in seq order, because the second takes its seq only once
// the first has ended.
void lock_key(int32 domain_id, uint32 key_hash) {
  LOCKTAG tag;
  SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, static_cast<uint32>(domain_id), key_hash, kKeyLockSpace);
  (void)LockAcquire(&tag, ExclusiveLock, false, false);
}

struct Intent {
  text* key;
  text* op;
  bytea* payload;  // may be null
  bool has_expected_version;
  int64 expected_version;
  Jsonb* headers;  // may be null
};

void validate(const DomainEntry* d, const Intent& in) {
  size_t key_len = VARSIZE_ANY_EXHDR(in.key);
  raise_if(check_key(std::string_view(VARDATA_ANY(in.key), key_len), d->max_key_bytes), "key");
  raise_if(check_op(std::string_view(VARDATA_ANY(in.op), VARSIZE_ANY_EXHDR(in.op))), "op");
  if (in.payload != nullptr) raise_if(check_payload(VARSIZE_ANY_EXHDR(in.payload), d->max_payload_bytes), "payload");
  if (in.headers != nullptr) {
    raise_if(check_headers(VARSIZE_ANY_EXHDR(in.headers), d->max_headers_bytes), "headers");
    if (!JB_ROOT_IS_OBJECT(in.headers))
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("headers must be a JSON object")));
  }
}

// Takes the seq of one intent and fills its row (kIntentColumns values). The
// caller holds the key lock and the partition's append target.
int64 build_row(DomainEntry* d, Oid seq_rel, int partition, const Intent& in, Datum xid, TimestampTz now, Datum* values,
                bool* nulls) {
  // After the lock: a schema registered meanwhile has reloaded the entry, so
  // the version checked is the version stamped.
  int32 schema_version = in.payload != nullptr ? d->schema_version : 0;
  if (schema_version != 0 && d->validate_payloads) check_payload_schema(d, in.payload);
  int64 seq = nextval_internal(seq_rel, false);
  const Datum v[kIntentColumns] = {
      Int32GetDatum(partition),
      Int64GetDatum(seq),
      xid,
      PointerGetDatum(in.key),
      PointerGetDatum(in.op),
      PointerGetDatum(in.payload),
      Int32GetDatum(schema_version),
      Int64GetDatum(in.expected_version),
      PointerGetDatum(in.headers),
      TimestampTzGetDatum(now),
  };
  const bool nn[kIntentColumns] = {false,
                                   false,
                                   false,
                                   false,
                                   false,
                                   in.payload == nullptr,
                                   schema_version == 0,
                                   !in.has_expected_version,
                                   in.headers == nullptr,
                                   false};
  memcpy(values, v, sizeof(v));
  memcpy(nulls, nn, sizeof(nn));
  return seq;
}

// Whether writing the rows of a staged append to the unlogged hot table
// spares this transaction a WAL flush at commit. PostgreSQL flushes at a
// synchronous commit exactly when the transaction wrote WAL (its seqs
// included: each partition's sequence logs once every 32 values, so in
// steady state nearly every batch of a hundred intents does, and one in 32
// single appends); then, and when the commit never flushes
// (synchronous_commit = off), the hot table would only add its promotion
// (a second insert, a delete, a vacuum) to the same flush, and the rows go
// straight to the logged segment instead: durable with their transaction.
bool hot_spares_a_flush() { return synchronous_commit > SYNCHRONOUS_COMMIT_OFF && XactLastRecEnd == InvalidXLogRecPtr; }

// The rows of one partition's intents, their seqs taken, not inserted yet.
struct PartitionRows {
  int partition;
  int count;
  Datum* values;  // count * kIntentColumns
  bool* nulls;
};

// Takes the seqs of in[order[0..count)] (all of one partition, in input
// order), storing each at seqs[order[i]], and builds their rows.
PartitionRows take_seqs(DomainEntry* d, int partition, const Intent* in, const int* order, int count, Datum xid,
                        TimestampTz now, int64* seqs) {
  (void)lock_append_target(d, partition);  // the entry is current: its seq_rel is the partition's
  const Oid seq_rel = d->parts[partition].seq_rel;
  PartitionRows r{partition, count, nullptr, nullptr};
  r.values = static_cast<Datum*>(palloc(sizeof(Datum) * kIntentColumns * count));
  r.nulls = static_cast<bool*>(palloc(sizeof(bool) * kIntentColumns * count));
  for (int i = 0; i < count; ++i)
    seqs[order[i]] = build_row(d, seq_rel, partition, in[order[i]], xid, now, r.values + i * kIntentColumns,
                               r.nulls + i * kIntentColumns);
  return r;
}

// Inserts the rows into the hot relation or (staged, `durable`) the
// partition's logged segment. Looks the target up again: another
// partition's lock may have reloaded the domain's entry (a rotation).
void insert_rows(DomainEntry* d, const PartitionRows& r, bool durable) {
  const AppendRel* target = lock_append_target(d, r.partition, durable);
  insert_intent_rows(target->rel, target->indexes, r.values, r.nulls, kIntentColumns, r.count);
  wakeup_note_append(d->domain_id, r.partition);
  append_counters_note(d->domain_id, r.count);
  pfree(r.values);
  pfree(r.nulls);
}

// The transaction's top-level xid, taken before any seq (the read path's
// correctness rests on it), as xid8.
Datum top_xid8() { return FullTransactionIdGetDatum(GetTopFullTransactionId()); }

DomainEntry* domain_arg(FunctionCallInfo fcinfo) {
  if (PG_ARGISNULL(0)) null_argument("domain");
  char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  return lookup_domain(name);
}

}  // namespace
}  // namespace intentlog::pg

using namespace intentlog::pg;

INTENTLOG_FUNCTION(intentlog_intent_append) {
  if (PG_ARGISNULL(1)) null_argument("key");
  if (PG_ARGISNULL(2)) null_argument("op");
  Intent in;
  in.key = PG_GETARG_TEXT_PP(1);
  in.op = PG_GETARG_TEXT_PP(2);
  in.payload = PG_ARGISNULL(3) ? nullptr : PG_GETARG_BYTEA_PP(3);
  in.has_expected_version = !PG_ARGISNULL(4);
  in.expected_version = in.has_expected_version ? PG_GETARG_INT64(4) : 0;
  in.headers = PG_ARGISNULL(5) ? nullptr : PG_GETARG_JSONB_P(5);

  // The (partition, seq) descriptor, built once per call site.
  auto desc = static_cast<TupleDesc>(fcinfo->flinfo->fn_extra);
  if (desc == nullptr) {
    TupleDesc built;
    if (get_call_result_type(fcinfo, nullptr, &built) != TYPEFUNC_COMPOSITE) elog(ERROR, "intentlog: bad return type");
    MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
    desc = BlessTupleDesc(CreateTupleDescCopy(built));
    MemoryContextSwitchTo(old);
    fcinfo->flinfo->fn_extra = desc;
  }

  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "intentlog: SPI_connect failed");
  DomainEntry* d = domain_arg(fcinfo);
  validate(d, in);
  int partition =
      intentlog::partition_of(std::string_view(VARDATA_ANY(in.key), VARSIZE_ANY_EXHDR(in.key)), d->partitions);
  lock_key(d->domain_id, key_lock_hash(VARDATA_ANY(in.key), VARSIZE_ANY_EXHDR(in.key)));
  Datum xid = top_xid8();
  int order = 0;
  int64 seq = 0;
  PartitionRows rows = take_seqs(d, partition, &in, &order, 1, xid, GetCurrentTimestamp(), &seq);
  // Decided after the seq is taken: its WAL counts.
  insert_rows(d, rows, d->staged && !hot_spares_a_flush());
  SPI_finish();

  Datum values[2] = {Int32GetDatum(partition), Int64GetDatum(seq)};
  bool nulls[2] = {false, false};
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

INTENTLOG_FUNCTION(intentlog_intent_append_batch) {
  if (PG_ARGISNULL(1)) null_argument("keys");
  if (PG_ARGISNULL(2)) null_argument("ops");
  Datum *keys, *ops, *payloads = nullptr, *versions = nullptr, *headers = nullptr;
  bool *key_nulls, *op_nulls, *payload_nulls = nullptr, *version_nulls = nullptr, *header_nulls = nullptr;
  int n, n_ops, n_payloads = -1, n_versions = -1, n_headers = -1;
  deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT, &keys, &key_nulls, &n);
  deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false, TYPALIGN_INT, &ops, &op_nulls, &n_ops);
  if (!PG_ARGISNULL(3))
    deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), BYTEAOID, -1, false, TYPALIGN_INT, &payloads, &payload_nulls,
                      &n_payloads);
  if (!PG_ARGISNULL(4))
    deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &versions, &version_nulls,
                      &n_versions);
  if (!PG_ARGISNULL(5))
    deconstruct_array(PG_GETARG_ARRAYTYPE_P(5), JSONBOID, -1, false, TYPALIGN_INT, &headers, &header_nulls, &n_headers);
  if (n != n_ops || (n_payloads >= 0 && n_payloads != n) || (n_versions >= 0 && n_versions != n) ||
      (n_headers >= 0 && n_headers != n))
    ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("batch arrays must have the same length"),
                    errdetail("keys has %d elements, ops %d, payloads %d, expected_versions %d, headers %d.", n, n_ops,
                              n_payloads, n_versions, n_headers)));
  if (static_cast<size_t>(n) > intentlog::kMaxBatch)
    ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("batch is too large"),
                    errdetail("The batch has %d intents; the limit is %zu.", n, intentlog::kMaxBatch)));

  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  InitMaterializedSRF(fcinfo, 0);

  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "intentlog: SPI_connect failed");
  DomainEntry* d = domain_arg(fcinfo);

  Intent* in = static_cast<Intent*>(palloc(sizeof(Intent) * (n > 0 ? n : 1)));
  uint32* lock_hashes = static_cast<uint32*>(palloc(sizeof(uint32) * (n > 0 ? n : 1)));
  for (int i = 0; i < n; ++i) {
    if (key_nulls[i]) null_argument("keys element");
    if (op_nulls[i]) null_argument("ops element");
    in[i].key = DatumGetTextPP(keys[i]);
    in[i].op = DatumGetTextPP(ops[i]);
    in[i].payload = (payloads && !payload_nulls[i]) ? DatumGetByteaPP(payloads[i]) : nullptr;
    in[i].has_expected_version = versions && !version_nulls[i];
    in[i].expected_version = in[i].has_expected_version ? DatumGetInt64(versions[i]) : 0;
    in[i].headers = (headers && !header_nulls[i]) ? DatumGetJsonbP(headers[i]) : nullptr;
    validate(d, in[i]);
    lock_hashes[i] = key_lock_hash(VARDATA_ANY(in[i].key), VARSIZE_ANY_EXHDR(in[i].key));
  }
  // Key locks in one global order, so concurrent batches cannot deadlock.
  uint32* sorted = static_cast<uint32*>(palloc(sizeof(uint32) * (n > 0 ? n : 1)));
  memcpy(sorted, lock_hashes, sizeof(uint32) * n);
  std::sort(sorted, sorted + n);
  for (int i = 0; i < n; ++i)
    if (i == 0 || sorted[i] != sorted[i - 1]) lock_key(d->domain_id, sorted[i]);

  Datum xid = top_xid8();
  TimestampTz now = GetCurrentTimestamp();
  // One pass per partition, in input order within it (seqs of a key follow
  // the input), so each partition's rows go in with one multi-insert.
  int* partitions = static_cast<int*>(palloc(sizeof(int) * (n > 0 ? n : 1)));
  int* order = static_cast<int*>(palloc(sizeof(int) * (n > 0 ? n : 1)));
  int64* seqs = static_cast<int64*>(palloc(sizeof(int64) * (n > 0 ? n : 1)));
  for (int i = 0; i < n; ++i) {
    partitions[i] =
        intentlog::partition_of(std::string_view(VARDATA_ANY(in[i].key), VARSIZE_ANY_EXHDR(in[i].key)), d->partitions);
    order[i] = i;
  }
  std::stable_sort(order, order + n, [partitions](int a, int b) { return partitions[a] < partitions[b]; });
  auto* groups = static_cast<PartitionRows*>(palloc(sizeof(PartitionRows) * (n > 0 ? n : 1)));
  int ngroups = 0;
  for (int start = 0; start < n;) {
    int end = start;
    while (end < n && partitions[order[end]] == partitions[order[start]]) ++end;
    groups[ngroups++] = take_seqs(d, partitions[order[start]], in, order + start, end - start, xid, now, seqs);
    start = end;
  }
  // Once for the whole batch, after all its seqs are taken: their WAL counts.
  const bool durable = d->staged && !hot_spares_a_flush();
  for (int g = 0; g < ngroups; ++g) insert_rows(d, groups[g], durable);
  for (int i = 0; i < n; ++i) {
    Datum values[2] = {Int32GetDatum(partitions[i]), Int64GetDatum(seqs[i])};
    bool nulls[2] = {false, false};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  SPI_finish();
  return (Datum)0;
}
