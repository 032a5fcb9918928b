#include "client/schema_cache.h"

#include "common/schema_compat.h"

namespace intentlog::client {

std::vector<SchemaCache::Key> SchemaCache::to_request(const v1::Batch& batch) {
  std::vector<Key> out;
  for (const auto& e : batch.events()) {
    if (!needs_schema(e)) continue;
    Key k{e.domain(), e.schema_version()};
    if (codecs_.count(k) || asked_.count(k)) continue;
    asked_[k] = true;
    out.push_back(std::move(k));
  }
  return out;
}

bool SchemaCache::add(const v1::Schema& sc, std::string* error) {
  Key k{sc.domain(), sc.schema_version()};
  asked_.erase(k);
  *error = sc.error();
  std::unique_ptr<ProtoSchema> schema;
  if (error->empty()) schema = ProtoSchema::parse(sc.descriptor_set(), sc.message(), error);
  auto& codec = codecs_[k];
  codec = schema ? std::make_unique<PayloadCodec>(std::move(schema)) : nullptr;
  return codec != nullptr;
}

bool SchemaCache::ready(const v1::Batch& batch) const {
  for (const auto& e : batch.events())
    if (needs_schema(e) && !codecs_.count({e.domain(), e.schema_version()})) return false;
  return true;
}

const PayloadCodec* SchemaCache::codec(const v1::Event& e) const {
  if (!needs_schema(e)) return nullptr;
  auto it = codecs_.find({e.domain(), e.schema_version()});
  return it == codecs_.end() ? nullptr : it->second.get();
}

}  // namespace intentlog::client
