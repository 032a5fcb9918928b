// Protobuf schemas of a domain (docs/DESIGN.md, "Schemas"): a serialized
// FileDescriptorSet plus the name of one message in it, and the compatibility
// check between two versions. Plain C++ over libprotobuf's descriptor API,
// with no PostgreSQL dependency; no protobuf header leaks out of this file, so
// the PostgreSQL glue can include it.
//
// Bad input never aborts: sizes are checked first, the set is parsed with the
// non-failing parser, files are built through the pool's error collector, and
// every failure comes back as a message.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace google::protobuf {
class Descriptor;
class DescriptorPool;
}  // namespace google::protobuf

namespace intentlog {

// Larger sets are refused before parsing (descriptor.proto itself is ~10 KiB).
constexpr std::size_t kMaxDescriptorSetBytes = 4u << 20;
constexpr std::size_t kMaxMessageNameBytes = 512;

// What a new version must keep working, relative to the previous one:
//  backward: readers with the new version read data written with the old one;
//  forward:  readers with the old version read data written with the new one;
//  full:     both;  none: no check (the set must still parse).
enum class Compatibility { kNone, kBackward, kForward, kFull };
bool parse_compatibility(std::string_view s, Compatibility* out);
const char* compatibility_name(Compatibility c);

// A parsed FileDescriptorSet and the message the domain's payloads are.
class ProtoSchema {
 public:
  // Returns nullptr and sets *error when the bytes are not a FileDescriptorSet
  // whose files build (every import included, as `protoc --include_imports`
  // writes it) or when `message` (a full name, leading '.' optional) is not
  // a message in it.
  static std::unique_ptr<ProtoSchema> parse(std::string_view descriptor_set, std::string_view message,
                                            std::string* error);
  ~ProtoSchema();
  ProtoSchema(const ProtoSchema&) = delete;
  ProtoSchema& operator=(const ProtoSchema&) = delete;

  const google::protobuf::Descriptor* message() const { return message_; }
  const google::protobuf::DescriptorPool& pool() const { return *pool_; }
  const std::string& message_name() const;

 private:
  ProtoSchema();
  std::unique_ptr<google::protobuf::DescriptorPool> pool_;
  const google::protobuf::Descriptor* message_ = nullptr;
};

// Every change from `previous` to `next` that breaks `mode`, one sentence
// each naming the field (empty: compatible). Compares the messages reachable
// from the schema's message, by field number:
//  - a field number kept with another type (or another message/enum shape);
//  - changed cardinality (repeated <-> singular; proto2 required added or
//    dropped in the direction that breaks a reader);
//  - a field or enum value removed without reserving its number, or a new
//    one reusing a number the previous version reserved;
//  - a renamed field or enum value (JSON appends and decoded JSON use names);
//  - fields a writer may set together moved into one oneof of the reader;
//  - a renamed message (the schema's message has another full name).
std::vector<std::string> check_compatibility(const ProtoSchema& previous, const ProtoSchema& next, Compatibility mode);

}  // namespace intentlog
