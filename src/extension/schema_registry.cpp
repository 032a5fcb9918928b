// SQL glue of the schema registry: compatibility check on registration,
// payload validation on append, JSON encode/decode. The work is in
// common/schema_compat and common/payload_codec; this file fetches stored
// descriptor sets, keeps the parsed ones per backend, and turns failures
// into SQL errors.
#include "extension/schema_registry.h"

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "common/payload_codec.h"
#include "common/schema_compat.h"
#include "extension/error_boundary.h"
#include "extension/sql_errors.h"

namespace intentlog::pg {
namespace {

// Parsed schemas by (domain name, version), per backend. Built on first use
// and dropped whenever intentlog.domains or intentlog.schemas change (a
// trigger on intentlog.schemas invalidates intentlog.domains).
using CodecKey = std::pair<std::string, int>;
std::map<CodecKey, std::unique_ptr<intentlog::PayloadCodec>>* codecs = nullptr;
constexpr std::size_t kMaxCachedCodecs = 256;
bool codecs_stale = false;
bool callback_registered = false;
Oid domains_oid = InvalidOid;

// Runs inside AcceptInvalidationMessages: only marks the cache stale, so no
// codec is freed while a caller holds it.
void relcache_callback(Datum, Oid relid) {
  if (relid == InvalidOid || relid == domains_oid) {
    codecs_stale = true;
    if (relid != InvalidOid) domains_oid = InvalidOid;  // looked up again: the extension may be recreated
  }
}

// libprotobuf would log to the server's stderr (e.g. invalid UTF-8 in a
// descriptor's strings); every failure reaches the caller as an error instead.
void quiet_protobuf() {
  static bool done = false;
  if (!done) intentlog::silence_protobuf_logging();
  done = true;
}

void ensure_registered() {
  quiet_protobuf();
  if (!callback_registered) {
    CacheRegisterRelcacheCallback(relcache_callback, (Datum)0);
    callback_registered = true;
  }
  if (domains_oid == InvalidOid) {
    domains_oid = get_relname_relid("domains", get_namespace_oid("intentlog", false));
    codecs_stale = true;
  }
}

// Error texts from libprotobuf may or may not end with a period.
const char* sentence_end(const char* s) {
  size_t n = strlen(s);
  return (n > 0 && s[n - 1] == '.') ? "" : ".";
}

// A copy of `s` in `cxt` as a bytea, allocated as copy_out does.
bytea* bytea_out(MemoryContext cxt, const std::string& s) {
  auto* b = static_cast<bytea*>(alloc_or_throw(cxt, VARHDRSZ + s.size()));
  SET_VARSIZE(b, VARHDRSZ + s.size());
  memcpy(VARDATA(b), s.data(), s.size());
  return b;
}

std::string_view bytes_of(const bytea* b) { return std::string_view(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)); }

// The codec of one stored schema version; raises 42704 if there is none.
// Must be called inside SPI_connect()/SPI_finish(). The result stays valid
// until the next call that can process invalidations.
const intentlog::PayloadCodec* codec_for(const char* domain, int32 version) {
  ensure_registered();
  const intentlog::PayloadCodec* codec = nullptr;
  cxx_call([&] {
    if (codecs == nullptr) codecs = new std::map<CodecKey, std::unique_ptr<intentlog::PayloadCodec>>();
    if (codecs_stale) codecs->clear();
    codecs_stale = false;
    auto it = codecs->find(CodecKey(domain, version));
    if (it != codecs->end()) codec = it->second.get();
  });
  if (codec != nullptr) return codec;

  // Latest snapshot, as the domain cache reads: a version the cache has seen
  // is visible here even in an older REPEATABLE READ snapshot.
  Oid types[2] = {TEXTOID, INT4OID};
  Datum args[2] = {CStringGetTextDatum(domain), Int32GetDatum(version)};
  SPIPlanPtr plan = SPI_prepare(
      "SELECT s.message, s.descriptor_set FROM intentlog.schemas s JOIN intentlog.domains d USING (domain_id) "
      "WHERE d.name = $1 AND s.version = $2",
      2, types);
  if (plan == nullptr) elog(ERROR, "intentlog: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
  int rc = SPI_execute_snapshot(plan, args, nullptr, GetLatestSnapshot(), InvalidSnapshot, true, false, 1);
  if (rc != SPI_OK_SELECT) elog(ERROR, "intentlog: schema query failed: %s", SPI_result_code_string(rc));
  SPI_freeplan(plan);
  if (SPI_processed == 0) {
    (void)lookup_domain(domain);  // raises if the domain itself does not exist
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("intentlog domain \"%s\" has no schema version %d", domain, version)));
  }
  bool isnull;
  char* message = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
  bytea* set = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

  char* error = nullptr;
  MemoryContext cxt = CurrentMemoryContext;
  cxx_call([&] {
    std::string e;
    auto schema = intentlog::ProtoSchema::parse(bytes_of(set), message, &e);
    if (schema == nullptr) {
      error = copy_out(cxt, e);
      return;
    }
    auto made = std::make_unique<intentlog::PayloadCodec>(std::move(schema));
    if (codecs->size() >= kMaxCachedCodecs) codecs->clear();
    codec = made.get();
    (*codecs)[CodecKey(domain, version)] = std::move(made);
  });
  if (error != nullptr)
    ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                    errmsg("schema version %d of intentlog domain \"%s\" cannot be used", version, domain),
                    errdetail("%s", error)));
  return codec;
}

[[noreturn]] void payload_mismatch(const char* domain, int32 version, const char* why) {
  ereport(ERROR, (errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
                  errmsg("payload does not match schema version %d of intentlog domain \"%s\"", version, domain),
                  errdetail("%s%s", why, sentence_end(why))));
  pg_unreachable();
}

}  // namespace

void check_payload_schema(const DomainEntry* d, bytea* payload) {
  const intentlog::PayloadCodec* codec = codec_for(d->name, d->schema_version);
  char* error = nullptr;
  MemoryContext cxt = CurrentMemoryContext;
  cxx_call([&] {
    std::string e;
    if (!codec->validate(bytes_of(payload), &e)) error = copy_out(cxt, e);
  });
  if (error != nullptr) payload_mismatch(d->name, d->schema_version, error);
}

}  // namespace intentlog::pg

using namespace intentlog::pg;

// _check_schema(domain, prev_version, prev_set, prev_message, new_set,
// new_message, compatibility) -> the message's full name. Raises unless the
// new set parses, holds the message, redefines no well-known type (see
// redefined_well_known_type) and keeps `compatibility` with the
// previous version (if any).
INTENTLOG_FUNCTION(intentlog_check_schema) {
  if (PG_ARGISNULL(0)) null_argument("domain");
  if (PG_ARGISNULL(4)) null_argument("descriptor_set");
  if (PG_ARGISNULL(5)) null_argument("message");
  if (PG_ARGISNULL(6)) null_argument("compatibility");
  const char* domain = text_to_cstring(PG_GETARG_TEXT_PP(0));
  bool has_prev = !PG_ARGISNULL(1) && !PG_ARGISNULL(2) && !PG_ARGISNULL(3);
  int32 prev_version = has_prev ? PG_GETARG_INT32(1) : 0;
  bytea* prev_set = has_prev ? PG_GETARG_BYTEA_PP(2) : nullptr;
  const char* prev_message = has_prev ? text_to_cstring(PG_GETARG_TEXT_PP(3)) : nullptr;
  bytea* new_set = PG_GETARG_BYTEA_PP(4);
  const char* new_message = text_to_cstring(PG_GETARG_TEXT_PP(5));
  const char* mode_name = text_to_cstring(PG_GETARG_TEXT_PP(6));

  quiet_protobuf();
  enum class Failure { kNone, kMode, kNewSet, kRedefined, kPrevSet, kIncompatible } failure = Failure::kNone;
  char* message_name = nullptr;
  char* error = nullptr;   // first problem or parse error
  char* detail = nullptr;  // every problem, one per line
  MemoryContext cxt = CurrentMemoryContext;
  cxx_call([&] {
    intentlog::Compatibility mode;
    if (!intentlog::parse_compatibility(mode_name, &mode)) {
      failure = Failure::kMode;
      return;
    }
    std::string e;
    auto next = intentlog::ProtoSchema::parse(bytes_of(new_set), new_message, &e);
    if (next == nullptr) {
      failure = Failure::kNewSet;
      error = copy_out(cxt, e);
      return;
    }
    message_name = copy_out(cxt, next->message_name());
    std::string redefined = intentlog::redefined_well_known_type(*next);
    if (!redefined.empty()) {
      failure = Failure::kRedefined;
      error = copy_out(cxt, redefined);
      return;
    }
    if (!has_prev || mode == intentlog::Compatibility::kNone) return;
    auto prev = intentlog::ProtoSchema::parse(bytes_of(prev_set), prev_message, &e);
    if (prev == nullptr) {
      failure = Failure::kPrevSet;
      error = copy_out(cxt, e);
      return;
    }
    std::vector<std::string> problems = intentlog::check_compatibility(*prev, *next, mode);
    if (problems.empty()) return;
    failure = Failure::kIncompatible;
    error = copy_out(cxt, problems[0]);
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "\n") + p + ".";
    detail = copy_out(cxt, all);
  });

  switch (failure) {
    case Failure::kNone:
      break;
    case Failure::kMode:
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("compatibility must be 'backward', 'forward', 'full' or 'none', got '%s'", mode_name)));
      break;
    case Failure::kNewSet:
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("invalid schema for intentlog domain \"%s\": %s", domain, error),
                      errhint("Pass the bytes of protoc --include_imports --descriptor_set_out=FILE and the full "
                              "name of the payload message.")));
      break;
    case Failure::kRedefined:
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("invalid schema for intentlog domain \"%s\": %s reaches a definition of %s whose "
                             "fields differ from the well-known type",
                             domain, message_name, error),
                      errdetail("Payloads of such a schema can be neither validated nor rendered as JSON."),
                      errhint("Compile with protoc's own google/protobuf/*.proto (its include directory) instead "
                              "of a copy.")));
      break;
    case Failure::kPrevSet:
      ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                      errmsg("schema version %d of intentlog domain \"%s\" cannot be used", prev_version, domain),
                      errdetail("%s", error), errhint("Register with compatibility => 'none' to replace it.")));
      break;
    case Failure::kIncompatible:
      ereport(ERROR, (errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
                      errmsg("schema is not %s compatible with version %d of intentlog domain \"%s\": %s", mode_name,
                             prev_version, domain, error),
                      errdetail("%s", detail),
                      errhint("Keep field numbers, names and types; reserve the numbers of removed fields; or "
                              "register with compatibility => 'none'.")));
      break;
  }
  PG_RETURN_TEXT_P(cstring_to_text(message_name));
}

// decode(domain, schema_version, payload) -> jsonb (STRICT).
INTENTLOG_FUNCTION(intentlog_decode) {
  const char* domain = text_to_cstring(PG_GETARG_TEXT_PP(0));
  int32 version = PG_GETARG_INT32(1);
  bytea* payload = PG_GETARG_BYTEA_PP(2);
  MemoryContext outer = CurrentMemoryContext;
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "intentlog: SPI_connect failed");
  const intentlog::PayloadCodec* codec = codec_for(domain, version);
  char* json = nullptr;
  char* error = nullptr;
  cxx_call([&] {
    std::string out, e;
    if (codec->to_json(bytes_of(payload), &out, &e))
      json = copy_out(outer, out);
    else
      error = copy_out(outer, e);
  });
  SPI_finish();
  if (error != nullptr) payload_mismatch(domain, version, error);
  PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

// encode(domain, payload jsonb, schema_version int) -> bytea; the current
// version when schema_version is NULL; NULL for a NULL payload.
INTENTLOG_FUNCTION(intentlog_encode) {
  if (PG_ARGISNULL(0)) null_argument("domain");
  if (PG_ARGISNULL(1)) PG_RETURN_NULL();
  const char* domain = text_to_cstring(PG_GETARG_TEXT_PP(0));
  Jsonb* jb = PG_GETARG_JSONB_P(1);
  const char* json = JsonbToCString(nullptr, &jb->root, VARSIZE(jb));
  MemoryContext outer = CurrentMemoryContext;
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "intentlog: SPI_connect failed");
  int32 version;
  if (PG_ARGISNULL(2)) {
    // The version intent_append stamps: the domain cache's current one.
    const DomainEntry* d = lookup_domain(domain);
    version = d->schema_version;
    if (version == 0)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("intentlog domain \"%s\" has no registered schema", domain),
                      errhint("Register one with intentlog.register_schema().")));
  } else {
    version = PG_GETARG_INT32(2);
  }
  const intentlog::PayloadCodec* codec = codec_for(domain, version);
  bytea* out = nullptr;
  char* error = nullptr;
  cxx_call([&] {
    std::string bin, e;
    if (!codec->from_json(json, &bin, &e)) {
      error = copy_out(outer, e);
      return;
    }
    out = bytea_out(outer, bin);
  });
  SPI_finish();
  if (error != nullptr)
    ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                    errmsg("JSON payload does not match schema version %d of intentlog domain \"%s\"", version, domain),
                    errdetail("%s%s", error, sentence_end(error))));
  PG_RETURN_BYTEA_P(out);
}
