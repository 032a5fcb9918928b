// PayloadCodec: a domain's payloads as messages of one schema version —
// validation of bytes, and JSON <-> binary through the schema (proto3 JSON
// mapping). Plain C++ over libprotobuf's dynamic messages, no PostgreSQL
// dependency and no protobuf header in this file; errors come back as text.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/schema_compat.h"

namespace intentlog {

class PayloadCodec {
 public:
  explicit PayloadCodec(std::unique_ptr<ProtoSchema> schema);
  ~PayloadCodec();
  PayloadCodec(const PayloadCodec&) = delete;
  PayloadCodec& operator=(const PayloadCodec&) = delete;

  const ProtoSchema& schema() const { return *schema_; }

  // True when `payload` parses as the message with every required field set
  // and no field the schema does not define (at any depth): a validated
  // domain stores only what its current version fully describes.
  bool validate(std::string_view payload, std::string* error) const;

  // The payload as JSON (proto3 mapping: lowerCamelCase names, enums by name,
  // 64-bit integers as strings). Fields the schema does not know are dropped.
  bool to_json(std::string_view payload, std::string* json, std::string* error) const;

  // JSON (either field-name spelling) to the binary encoding; unknown JSON
  // fields are an error. The result passes validate().
  bool from_json(std::string_view json, std::string* payload, std::string* error) const;

 private:
  struct Impl;
  std::unique_ptr<ProtoSchema> schema_;
  std::unique_ptr<Impl> impl_;
};

// The first google.protobuf message the schema's payload message reaches
// whose fields differ from the well-known type libprotobuf was built with,
// or "". Such a schema cannot be validated or rendered as JSON (libprotobuf's
// converter reads those names by their real shape): registration refuses it.
std::string redefined_well_known_type(const ProtoSchema& schema);

// Stops libprotobuf from writing its own log lines (e.g. about invalid UTF-8
// while parsing) to stderr; every failure is reported through the APIs above.
// Process-wide: call it from the server, not from the worker.
void silence_protobuf_logging();

}  // namespace intentlog
