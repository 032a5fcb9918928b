#include "common/payload_codec.h"

#include <limits>
#include <set>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>

namespace intentlog {

namespace pb = google::protobuf;

namespace {

constexpr char kTypeUrlPrefix[] = "type.googleapis.com";

// The first field, at any depth, that the schema does not define. Parsing
// bounds the nesting (recursion limit 100), so plain recursion is safe here.
bool find_unknown(const pb::Message& m, std::string* where) {
  const pb::Reflection* r = m.GetReflection();
  const pb::UnknownFieldSet& unknown = r->GetUnknownFields(m);
  if (!unknown.empty()) {
    *where = "field number " + std::to_string(unknown.field(0).number()) + ", which " + m.GetDescriptor()->full_name() +
             " does not define";
    return true;
  }
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0, n = r->FieldSize(m, f); i < n; ++i)
        if (find_unknown(r->GetRepeatedMessage(m, f, i), where)) return true;
    } else if (find_unknown(r->GetMessage(m, f), where)) {
      return true;
    }
  }
  return false;
}

// Whether the message reaches a well-known type (google.protobuf.Timestamp,
// Duration, Any, ...): those carry rules beyond the wire format (ranges,
// resolvable type URLs) that only the JSON converter checks.
bool reaches_well_known_type(const pb::Descriptor* root) {
  std::vector<const pb::Descriptor*> todo{root};
  std::set<const pb::Descriptor*> seen{root};
  while (!todo.empty()) {
    const pb::Descriptor* d = todo.back();
    todo.pop_back();
    if (d->file()->package() == "google.protobuf") return true;
    for (int i = 0; i < d->field_count(); ++i) {
      const pb::Descriptor* m = d->field(i)->message_type();
      if (m != nullptr && seen.insert(m).second) todo.push_back(m);
    }
  }
  return false;
}

}  // namespace

struct PayloadCodec::Impl {
  bool check_well_known = false;
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
  impl_->check_well_known = reaches_well_known_type(schema_->message());
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
  std::string where;
  if (find_unknown(*m, &where)) {
    *error = "payload has " + where;
    return false;
  }
  // E.g. a Timestamp past year 9999: valid wire data, invalid value. Checked
  // so that every validated payload also decodes to JSON.
  if (impl_->check_well_known) {
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
  // The converter is given only well-formed wire data.
  if (impl_->parse(payload, schema_->message_name(), error) == nullptr) return false;
  pb::util::JsonPrintOptions options;
  pb::util::Status s =
      pb::util::BinaryToJsonString(impl_->resolver.get(), impl_->type_url, std::string(payload), json, options);
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
