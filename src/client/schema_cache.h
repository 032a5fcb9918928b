// intentlog::client::SchemaCache: the payload schemas a consumer has met,
// to decode payloads of any schema version (register_schema in the README).
// Events carry their schema_version; the descriptor of a version comes once
// per connection from the worker (SchemaRequest -> Schema).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/payload_codec.h"
#include "intentlog/v1/stream.pb.h"

namespace intentlog::client {

class SchemaCache {
 public:
  using Key = std::pair<std::string, int>;  // (domain, schema_version)

  // The schema versions the batch's payloads need that are neither known
  // nor asked for yet; they count as asked for from now on.
  std::vector<Key> to_request(const v1::Batch& batch);
  // A Schema frame: false and `*error` set when it cannot decode anything
  // (no such version, a bad descriptor); its events are then undecodable.
  bool add(const v1::Schema& schema, std::string* error);
  // Every payload of the batch has its answer (a codec, or known to have none).
  bool ready(const v1::Batch& batch) const;
  // The codec of the event's schema version; nullptr when there is none.
  const PayloadCodec* codec(const v1::Event& event) const;

 private:
  static bool needs_schema(const v1::Event& e) { return e.schema_version() > 0 && !e.payload().empty(); }

  std::map<Key, std::unique_ptr<PayloadCodec>> codecs_;  // nullptr: not to be had
  std::map<Key, bool> asked_;
};

}  // namespace intentlog::client
