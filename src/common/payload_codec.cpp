#include "common/payload_codec.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <limits>
#include <map>
#include <set>
#include <vector>

#include "common/cpp_only.h"  // last: see there

namespace intentlog {

namespace pb = google::protobuf;

namespace {

constexpr char kTypeUrlPrefix[] = "type.googleapis.com";

// google.protobuf.Timestamp and Duration: (seconds int64 = 1, nanos int32 = 2)
// with the ranges their definitions (and the JSON mapping) require.
constexpr int64_t kMinTimestampSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTimestampSeconds = 253402300799;  // 9999-12-31T23:59:59Z
constexpr int64_t kMaxDurationSeconds = 315576000000;   // 10,000 years
constexpr int32_t kNanosPerSecond = 1000000000;

bool is_seconds_nanos(const pb::Descriptor* d) {
  const pb::FieldDescriptor* s = d->FindFieldByNumber(1);
  const pb::FieldDescriptor* n = d->FindFieldByNumber(2);
  return d->field_count() == 2 && s != nullptr && n != nullptr && !s->is_repeated() && !n->is_repeated() &&
         s->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT64 && n->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT32;
}

// Well-known types whose rules the walk below checks itself; any other
// google.protobuf message (Any, Struct, Value, FieldMask, ...) is checked by
// converting the payload to JSON, which costs more.
bool checked_by_walk(const pb::Descriptor* d) {
  static const std::set<std::string> kPlain = {"google.protobuf.Empty",       "google.protobuf.DoubleValue",
                                               "google.protobuf.FloatValue",  "google.protobuf.Int64Value",
                                               "google.protobuf.UInt64Value", "google.protobuf.Int32Value",
                                               "google.protobuf.UInt32Value", "google.protobuf.BoolValue",
                                               "google.protobuf.StringValue", "google.protobuf.BytesValue"};
  const std::string& name = d->full_name();
  if (name == "google.protobuf.Timestamp" || name == "google.protobuf.Duration") return is_seconds_nanos(d);
  return kPlain.count(name) > 0;
}

// The first message type reachable from `root` through message fields (root
// included) for which `pred` holds, or nullptr. Each type is visited once, so
// recursive schemas terminate.
template <typename Pred>
const pb::Descriptor* first_reachable(const pb::Descriptor* root, Pred pred) {
  std::vector<const pb::Descriptor*> todo{root};
  std::set<const pb::Descriptor*> seen{root};
  while (!todo.empty()) {
    const pb::Descriptor* d = todo.back();
    todo.pop_back();
    if (pred(d)) return d;
    for (int i = 0; i < d->field_count(); ++i) {
      const pb::Descriptor* m = d->field(i)->message_type();
      if (m != nullptr && seen.insert(m).second) todo.push_back(m);
    }
  }
  return nullptr;
}

bool needs_json_check(const pb::Descriptor* root) {
  return first_reachable(root, [](const pb::Descriptor* d) {
           return d->file()->package() == "google.protobuf" && !checked_by_walk(d);
         }) != nullptr;
}

// Whether two definitions of a message have the same fields: numbers, names,
// types, cardinality, oneofs, maps and the names of the types they refer to
// (what the JSON converter reads; not json_name or options, which protoc
// writes into descriptor sets and libprotobuf's own descriptors do not).
bool same_shape(const pb::Descriptor* a, const pb::Descriptor* b) {
  if (a->field_count() != b->field_count()) return false;
  for (int i = 0; i < a->field_count(); ++i) {
    const pb::FieldDescriptor* x = a->field(i);
    const pb::FieldDescriptor* y = b->FindFieldByNumber(x->number());
    if (y == nullptr || x->name() != y->name() || x->type() != y->type() || x->label() != y->label() ||
        x->is_map() != y->is_map() || (x->containing_oneof() == nullptr) != (y->containing_oneof() == nullptr))
      return false;
    if ((x->message_type() == nullptr) != (y->message_type() == nullptr) ||
        (x->message_type() != nullptr && x->message_type()->full_name() != y->message_type()->full_name()))
      return false;
    if ((x->enum_type() == nullptr) != (y->enum_type() == nullptr) ||
        (x->enum_type() != nullptr && x->enum_type()->full_name() != y->enum_type()->full_name()))
      return false;
  }
  return true;
}

// The first google.protobuf message reachable from `root` whose definition
// differs from the one libprotobuf was built with (see the header). A
// schema's own google.protobuf.Struct without the map field made the JSON
// converter loop forever (test/fuzz/frame_fuzzer).
const pb::Descriptor* first_redefined(const pb::Descriptor* root) {
  return first_reachable(root, [](const pb::Descriptor* m) {
    if (m->file()->package() != "google.protobuf") return false;
    const pb::Descriptor* real = pb::DescriptorPool::generated_pool()->FindMessageTypeByName(m->full_name());
    return real != nullptr && real != m && !same_shape(m, real);
  });
}

// The first problem, at any depth: a field the schema does not define, or a
// Timestamp/Duration out of range. Parsing bounds the nesting (recursion
// limit 100), so plain recursion is safe here.
bool find_problem(const pb::Message& m, const pb::Descriptor* timestamp, const pb::Descriptor* duration,
                  std::string* why) {
  const pb::Reflection* r = m.GetReflection();
  const pb::Descriptor* d = m.GetDescriptor();
  const pb::UnknownFieldSet& unknown = r->GetUnknownFields(m);
  if (!unknown.empty()) {
    *why = "payload has field number " + std::to_string(unknown.field(0).number()) + ", which " + d->full_name() +
           " does not define";
    return true;
  }
  if (d == timestamp || d == duration) {
    int64_t seconds = r->GetInt64(m, d->FindFieldByNumber(1));
    int32_t nanos = r->GetInt32(m, d->FindFieldByNumber(2));
    bool ok = d == timestamp
                  ? seconds >= kMinTimestampSeconds && seconds <= kMaxTimestampSeconds && nanos >= 0 &&
                        nanos < kNanosPerSecond
                  : seconds >= -kMaxDurationSeconds && seconds <= kMaxDurationSeconds && nanos > -kNanosPerSecond &&
                        nanos < kNanosPerSecond && !(seconds < 0 && nanos > 0) && !(seconds > 0 && nanos < 0);
    if (!ok) {
      *why = "payload holds an invalid " + d->full_name() + " (seconds " + std::to_string(seconds) + ", nanos " +
             std::to_string(nanos) + ")";
      return true;
    }
    return false;
  }
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0, n = r->FieldSize(m, f); i < n; ++i)
        if (find_problem(r->GetRepeatedMessage(m, f, i), timestamp, duration, why)) return true;
    } else if (find_problem(r->GetMessage(m, f), timestamp, duration, why)) {
      return true;
    }
  }
  return false;
}

// The key of a map entry, as text (map keys are integers, bools or strings).
std::string map_key(const pb::Message& entry) {
  const pb::FieldDescriptor* k = entry.GetDescriptor()->map_key();
  const pb::Reflection* r = entry.GetReflection();
  switch (k->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return std::to_string(r->GetInt32(entry, k));
    case pb::FieldDescriptor::CPPTYPE_INT64:
      return std::to_string(r->GetInt64(entry, k));
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return std::to_string(r->GetUInt32(entry, k));
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return std::to_string(r->GetUInt64(entry, k));
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(entry, k) ? "true" : "false";
    default:
      return r->GetString(entry, k);
  }
}

// Keeps, in every map of `m` at any depth, only the last entry of each key,
// as parsing into a map does: the wire format allows a key twice, and the
// JSON converter would print it twice. Parsing bounds the nesting.
void drop_repeated_map_keys(pb::Message* m) {
  const pb::Reflection* r = m->GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (!f->is_repeated()) {
      drop_repeated_map_keys(r->MutableMessage(m, f));
      continue;
    }
    int n = r->FieldSize(*m, f);
    if (f->is_map()) {
      std::vector<std::string> keys;
      std::map<std::string, int> last;
      for (int i = 0; i < n; ++i) last[keys.emplace_back(map_key(r->GetRepeatedMessage(*m, f, i)))] = i;
      if (static_cast<int>(last.size()) < n) {
        int kept = 0;
        for (int i = 0; i < n; ++i) {
          if (last[keys[i]] != i) continue;
          // A dropped entry goes to i: the entries past i are still their own.
          if (i != kept) r->SwapElements(m, f, i, kept);
          ++kept;
        }
        for (; n > kept; --n) r->RemoveLast(m, f);
      }
    }
    for (int i = 0; i < n; ++i) drop_repeated_map_keys(r->MutableRepeatedMessage(m, f, i));
  }
}

}  // namespace

std::string redefined_well_known_type(const ProtoSchema& schema) {
  const pb::Descriptor* d = first_redefined(schema.message());
  return d != nullptr ? d->full_name() : "";
}

struct PayloadCodec::Impl {
  bool check_json = false;                    // see needs_json_check()
  std::string redefined;                      // see redefined_well_known_type() in the header
  const pb::Descriptor* timestamp = nullptr;  // in the schema's pool, if it has them
  const pb::Descriptor* duration = nullptr;
  pb::DynamicMessageFactory factory;
  const pb::Message* prototype = nullptr;
  std::unique_ptr<pb::util::TypeResolver> resolver;
  std::string type_url;

  // Parses without the required-field check; false on malformed wire data.
  std::unique_ptr<pb::Message> parse(std::string_view payload, const std::string& name, std::string* error) const {
    std::unique_ptr<pb::Message> m(prototype->New());
    if (payload.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
        !m->ParsePartialFromArray(payload.data(), static_cast<int>(payload.size()))) {
      *error = "payload is not a valid " + name + " message (" + std::to_string(payload.size()) + " bytes)";
      return nullptr;
    }
    return m;
  }
};

PayloadCodec::PayloadCodec(std::unique_ptr<ProtoSchema> schema) : schema_(std::move(schema)), impl_(new Impl) {
  impl_->prototype = impl_->factory.GetPrototype(schema_->message());
  impl_->resolver.reset(pb::util::NewTypeResolverForDescriptorPool(kTypeUrlPrefix, &schema_->pool()));
  impl_->type_url = std::string(kTypeUrlPrefix) + "/" + schema_->message_name();
  impl_->check_json = needs_json_check(schema_->message());
  impl_->redefined = redefined_well_known_type(*schema_);
  for (const char* name : {"google.protobuf.Timestamp", "google.protobuf.Duration"}) {
    const pb::Descriptor* d = schema_->pool().FindMessageTypeByName(name);
    if (d != nullptr && is_seconds_nanos(d)) (d->name() == "Timestamp" ? impl_->timestamp : impl_->duration) = d;
  }
}

PayloadCodec::~PayloadCodec() = default;

bool PayloadCodec::validate(std::string_view payload, std::string* error) const {
  const std::string& name = schema_->message_name();
  std::unique_ptr<pb::Message> m = impl_->parse(payload, name, error);
  if (m == nullptr) return false;
  if (!m->IsInitialized()) {
    *error = "payload lacks required fields of " + name + ": " + m->InitializationErrorString();
    return false;
  }
  if (find_problem(*m, impl_->timestamp, impl_->duration, error)) return false;
  // E.g. an Any whose type is unknown: valid wire data, invalid value. Checked
  // so that every validated payload also decodes to JSON.
  if (impl_->check_json) {
    if (!impl_->redefined.empty()) {
      *error = "the schema redefines " + impl_->redefined + ", so its payloads cannot be checked";
      return false;
    }
    std::string json;
    pb::util::Status s = pb::util::BinaryToJsonString(impl_->resolver.get(), impl_->type_url, std::string(payload),
                                                      &json, pb::util::JsonPrintOptions());
    if (!s.ok()) {
      *error = "payload holds an invalid well-known type value: " + std::string(s.message());
      return false;
    }
  }
  return true;
}

bool PayloadCodec::to_json(std::string_view payload, std::string* json, std::string* error) const {
  // The converter is given only well-formed wire data, of well-known types
  // it knows the shape of.
  if (!impl_->redefined.empty()) {
    *error = "cannot convert the payload to JSON: the schema redefines " + impl_->redefined;
    return false;
  }
  std::unique_ptr<pb::Message> m = impl_->parse(payload, schema_->message_name(), error);
  if (m == nullptr) return false;
  // Converted from the parsed message, not from the bytes: the wire format
  // lets a map hold a key twice (the last entry wins) and a singular field
  // appear twice, which the converter would print as a JSON object with a
  // repeated name that no JSON parser takes back (test/fuzz/frame_fuzzer).
  // Deterministic: map entries in key order.
  drop_repeated_map_keys(m.get());
  std::string canonical;
  {
    pb::io::StringOutputStream out(&canonical);
    pb::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    if (!m->SerializePartialToCodedStream(&coded)) {
      *error = "cannot convert the payload to JSON: it does not serialize again";
      return false;
    }
  }
  pb::util::JsonPrintOptions options;
  json->clear();  // the converter appends
  pb::util::Status s = pb::util::BinaryToJsonString(impl_->resolver.get(), impl_->type_url, canonical, json, options);
  if (!s.ok()) {
    *error = "cannot convert the payload to JSON: " + std::string(s.message());
    return false;
  }
  return true;
}

bool PayloadCodec::from_json(std::string_view json, std::string* payload, std::string* error) const {
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  payload->clear();
  pb::util::Status s = pb::util::JsonToBinaryString(impl_->resolver.get(), impl_->type_url,
                                                    pb::StringPiece(json.data(), json.size()), payload, options);
  if (!s.ok()) {
    std::string why(s.message());
    if (why.rfind(": ", 0) == 0) why.erase(0, 2);  // the converter's empty path for the root message
    *error = "JSON does not match " + schema_->message_name() + ": " + why;
    return false;
  }
  return validate(*payload, error);
}

void silence_protobuf_logging() {
  pb::SetLogHandler([](pb::LogLevel, const char*, int, const std::string&) {});
}

}  // namespace intentlog
