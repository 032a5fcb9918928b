#include "common/schema_compat.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <deque>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include "common/cpp_only.h"  // last: see there

namespace intentlog {

namespace pb = google::protobuf;

namespace {

class FirstErrorCollector : public pb::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element, const pb::Message*, ErrorLocation,
                const std::string& message) override {
    if (first_.empty()) first_ = filename + ": " + (element.empty() ? "" : element + ": ") + message;
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

// Builds every file of the set into `pool`, dependencies first. Iterative, so
// a long import chain cannot exhaust the stack.
bool build_all(const pb::FileDescriptorSet& set, pb::DescriptorPool* pool, std::string* error) {
  const int n = set.file_size();
  std::unordered_map<std::string, int> index;
  for (int i = 0; i < n; ++i) {
    if (!index.emplace(set.file(i).name(), i).second) {
      *error = "the descriptor set contains file \"" + set.file(i).name() + "\" twice";
      return false;
    }
  }
  enum State : char { kNew, kBuilding, kBuilt };
  std::vector<State> state(n, kNew);
  std::vector<std::pair<int, int>> stack;  // (file, next dependency to visit)
  FirstErrorCollector errors;
  for (int root = 0; root < n; ++root) {
    if (state[root] != kNew) continue;
    state[root] = kBuilding;
    stack.emplace_back(root, 0);
    while (!stack.empty()) {
      auto& [f, next] = stack.back();
      const pb::FileDescriptorProto& file = set.file(f);
      if (next < file.dependency_size()) {
        const std::string& dep = file.dependency(next++);
        auto it = index.find(dep);
        if (it == index.end()) {
          *error = "file \"" + file.name() + "\" imports \"" + dep +
                   "\", which the descriptor set does not contain (use protoc --include_imports)";
          return false;
        }
        if (state[it->second] == kBuilding) {
          *error = "file \"" + file.name() + "\" is part of an import cycle through \"" + dep + "\"";
          return false;
        }
        if (state[it->second] == kNew) {
          state[it->second] = kBuilding;
          stack.emplace_back(it->second, 0);
        }
        continue;
      }
      if (pool->BuildFileCollectingErrors(file, &errors) == nullptr) {
        *error = "invalid descriptor: " + (errors.first().empty() ? "file \"" + file.name() + "\"" : errors.first());
        return false;
      }
      state[f] = kBuilt;
      stack.pop_back();
    }
  }
  return true;
}

const char* label_name(const pb::FieldDescriptor* f) {
  if (f->is_repeated()) return "repeated";
  if (f->is_required()) return "required";
  return "optional";
}

std::string type_name(const pb::FieldDescriptor* f) {
  if (f->is_map()) return "map";
  switch (f->type()) {
    case pb::FieldDescriptor::TYPE_MESSAGE:
      return "message " + f->message_type()->full_name();
    case pb::FieldDescriptor::TYPE_GROUP:
      return "group " + f->message_type()->full_name();
    case pb::FieldDescriptor::TYPE_ENUM:
      return "enum " + f->enum_type()->full_name();
    default:
      return pb::FieldDescriptor::TypeName(f->type());
  }
}

std::string field_ref(const pb::FieldDescriptor* f) {
  return "field \"" + f->name() + "\" (" + std::to_string(f->number()) + ") of " + f->containing_type()->full_name();
}

const pb::OneofDescriptor* real_oneof(const pb::FieldDescriptor* f) {
  // proto3 `optional` makes a synthetic oneof of one field: not a real choice.
  return f->real_containing_oneof();
}

class Checker {
 public:
  Checker(Compatibility mode)
      : backward_(mode == Compatibility::kBackward || mode == Compatibility::kFull),
        forward_(mode == Compatibility::kForward || mode == Compatibility::kFull) {}

  std::vector<std::string> run(const pb::Descriptor* prev, const pb::Descriptor* next) {
    if (prev->full_name() != next->full_name())
      add("message renamed from " + prev->full_name() + " to " + next->full_name());
    queue_message(prev, next);
    while (!messages_.empty() || !enums_.empty()) {
      if (!messages_.empty()) {
        auto [p, n] = messages_.front();
        messages_.pop_front();
        compare_message(p, n);
      } else {
        auto [p, n] = enums_.front();
        enums_.pop_front();
        compare_enum(p, n);
      }
    }
    return std::move(problems_);
  }

 private:
  void add(std::string problem) {
    if (seen_problems_.insert(problem).second) problems_.push_back(std::move(problem));
  }

  void queue_message(const pb::Descriptor* p, const pb::Descriptor* n) {
    if (seen_messages_.emplace(p, n).second) messages_.emplace_back(p, n);
  }
  void queue_enum(const pb::EnumDescriptor* p, const pb::EnumDescriptor* n) {
    if (seen_enums_.emplace(p, n).second) enums_.emplace_back(p, n);
  }

  void compare_message(const pb::Descriptor* prev, const pb::Descriptor* next) {
    for (int i = 0; i < prev->field_count(); ++i) {
      const pb::FieldDescriptor* p = prev->field(i);
      const pb::FieldDescriptor* n = next->FindFieldByNumber(p->number());
      if (n == nullptr) {
        removed_field(p, next);
        continue;
      }
      compare_field(p, n);
    }
    for (int i = 0; i < next->field_count(); ++i) {
      const pb::FieldDescriptor* n = next->field(i);
      if (prev->FindFieldByNumber(n->number()) != nullptr) continue;
      if (prev->IsReservedNumber(n->number()))
        add(field_ref(n) + " reuses number " + std::to_string(n->number()) + ", which the previous version reserved");
      // Data written with the previous version lacks it: the new reader fails.
      if (backward_ && n->is_required()) add(field_ref(n) + " is a new required field");
    }
    if (backward_) check_oneofs(prev, next, "the new", "the previous");
    if (forward_) check_oneofs(next, prev, "the previous", "the new");
  }

  void removed_field(const pb::FieldDescriptor* p, const pb::Descriptor* next) {
    if (!next->IsReservedNumber(p->number()))
      add(field_ref(p) + " was removed without reserving its number (add `reserved " + std::to_string(p->number()) +
          ";`)");
    // Readers with the previous version still require it.
    if (forward_ && p->is_required()) add(field_ref(p) + " was required and is removed");
  }

  void compare_field(const pb::FieldDescriptor* p, const pb::FieldDescriptor* n) {
    if (p->name() != n->name())
      add("field " + std::to_string(p->number()) + " of " + n->containing_type()->full_name() + " was renamed from \"" +
          p->name() + "\" to \"" + n->name() + "\" (JSON appends and decoded JSON use field names)");
    if (p->is_repeated() != n->is_repeated()) {
      add(field_ref(n) + " changed cardinality from " + label_name(p) + " to " + label_name(n));
    } else if (p->is_required() != n->is_required()) {
      // optional -> required breaks new readers of old data (backward);
      // required -> optional breaks old readers of new data (forward).
      if ((n->is_required() && backward_) || (p->is_required() && forward_))
        add(field_ref(n) + " changed cardinality from " + label_name(p) + " to " + label_name(n));
    }
    if (p->type() != n->type() || p->is_map() != n->is_map()) {
      add(field_ref(n) + " changed type from " + type_name(p) + " to " + type_name(n));
      return;
    }
    if (p->type() == pb::FieldDescriptor::TYPE_MESSAGE || p->type() == pb::FieldDescriptor::TYPE_GROUP)
      queue_message(p->message_type(), n->message_type());
    else if (p->type() == pb::FieldDescriptor::TYPE_ENUM)
      queue_enum(p->enum_type(), n->enum_type());
  }

  // A writer may set two fields together unless they share one of its
  // oneofs; if the reader puts them in one oneof, it keeps only the last.
  void check_oneofs(const pb::Descriptor* writer, const pb::Descriptor* reader, const char* reader_version,
                    const char* writer_version) {
    for (int i = 0; i < reader->real_oneof_decl_count(); ++i) {
      const pb::OneofDescriptor* o = reader->oneof_decl(i);
      const pb::FieldDescriptor* first = nullptr;
      for (int k = 0; k < o->field_count(); ++k) {
        const pb::FieldDescriptor* w = writer->FindFieldByNumber(o->field(k)->number());
        if (w == nullptr) continue;
        if (first == nullptr) {
          first = w;
          continue;
        }
        const pb::OneofDescriptor* a = real_oneof(first);
        if (a == nullptr || a != real_oneof(w))
          add("fields \"" + first->name() + "\" and \"" + w->name() + "\" of " + reader->full_name() +
              " are in oneof \"" + o->name() + "\" of " + reader_version + " version but " + writer_version +
              " version may set both");
      }
    }
  }

  void compare_enum(const pb::EnumDescriptor* prev, const pb::EnumDescriptor* next) {
    for (int i = 0; i < prev->value_count(); ++i) {
      const pb::EnumValueDescriptor* p = prev->value(i);
      const pb::EnumValueDescriptor* n = next->FindValueByNumber(p->number());
      const std::string ref =
          "value \"" + p->name() + "\" (" + std::to_string(p->number()) + ") of enum " + next->full_name();
      if (n == nullptr) {
        if (!next->IsReservedNumber(p->number()))
          add(ref + " was removed without reserving its number (add `reserved " + std::to_string(p->number()) + ";`)");
      } else if (n->name() != p->name()) {
        add(ref + " was renamed to \"" + n->name() + "\" (decoded JSON uses enum value names)");
      }
    }
    for (int i = 0; i < next->value_count(); ++i) {
      const pb::EnumValueDescriptor* n = next->value(i);
      if (prev->FindValueByNumber(n->number()) == nullptr && prev->IsReservedNumber(n->number()))
        add("value \"" + n->name() + "\" (" + std::to_string(n->number()) + ") of enum " + next->full_name() +
            " reuses a number the previous version reserved");
    }
  }

  const bool backward_;
  const bool forward_;
  std::vector<std::string> problems_;
  std::set<std::string> seen_problems_;
  std::set<std::pair<const pb::Descriptor*, const pb::Descriptor*>> seen_messages_;
  std::set<std::pair<const pb::EnumDescriptor*, const pb::EnumDescriptor*>> seen_enums_;
  std::deque<std::pair<const pb::Descriptor*, const pb::Descriptor*>> messages_;
  std::deque<std::pair<const pb::EnumDescriptor*, const pb::EnumDescriptor*>> enums_;
};

}  // namespace

bool parse_compatibility(std::string_view s, Compatibility* out) {
  if (s == "backward")
    *out = Compatibility::kBackward;
  else if (s == "forward")
    *out = Compatibility::kForward;
  else if (s == "full")
    *out = Compatibility::kFull;
  else if (s == "none")
    *out = Compatibility::kNone;
  else
    return false;
  return true;
}

const char* compatibility_name(Compatibility c) {
  switch (c) {
    case Compatibility::kBackward:
      return "backward";
    case Compatibility::kForward:
      return "forward";
    case Compatibility::kFull:
      return "full";
    case Compatibility::kNone:
      return "none";
  }
  return "?";
}

ProtoSchema::ProtoSchema() = default;
ProtoSchema::~ProtoSchema() = default;

const std::string& ProtoSchema::message_name() const { return message_->full_name(); }

std::unique_ptr<ProtoSchema> ProtoSchema::parse(std::string_view descriptor_set, std::string_view message,
                                                std::string* error) {
  if (descriptor_set.size() > kMaxDescriptorSetBytes) {
    *error = "the descriptor set is " + std::to_string(descriptor_set.size()) + " bytes; the limit is " +
             std::to_string(kMaxDescriptorSetBytes);
    return nullptr;
  }
  if (!message.empty() && message.front() == '.') message.remove_prefix(1);
  if (message.empty() || message.size() > kMaxMessageNameBytes) {
    *error = "the message name must be a full name such as \"shop.v1.Order\"";
    return nullptr;
  }
  pb::FileDescriptorSet set;
  if (!set.ParseFromArray(descriptor_set.data(), static_cast<int>(descriptor_set.size()))) {
    *error = "the bytes are not a serialized google.protobuf.FileDescriptorSet";
    return nullptr;
  }
  if (set.file_size() == 0) {
    *error = "the descriptor set contains no files";
    return nullptr;
  }
  std::unique_ptr<ProtoSchema> schema(new ProtoSchema());
  schema->pool_ = std::make_unique<pb::DescriptorPool>();
  if (!build_all(set, schema->pool_.get(), error)) return nullptr;
  schema->message_ = schema->pool_->FindMessageTypeByName(std::string(message));
  if (schema->message_ == nullptr) {
    *error = "the descriptor set has no message \"" + std::string(message) + "\"";
    return nullptr;
  }
  return schema;
}

std::vector<std::string> check_compatibility(const ProtoSchema& previous, const ProtoSchema& next, Compatibility mode) {
  if (mode == Compatibility::kNone) return {};
  return Checker(mode).run(previous.message(), next.message());
}

}  // namespace intentlog
