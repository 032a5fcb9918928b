#include "worker/kafka/kafka_record.h"

#include "common/payload_codec.h"
#include "worker/event_format.h"
#include "worker/kafka/murmur2.h"

namespace intentlog {

std::string event_id(const std::string& domain, int partition, std::int64_t seq) {
  return domain + "/" + std::to_string(partition) + "/" + std::to_string(seq);
}

int kafka_partition(const KafkaConfig& c, const v1::Event& e, int kafka_partitions) {
  if (c.partitioning == KafkaConfig::Partitioning::kMurmur2) return kafka_murmur2_partition(e.key(), kafka_partitions);
  return e.partition();  // the topic's partition count was checked against the domain's at start
}

KafkaRecord event_record(const KafkaConfig& c, const v1::Event& e, int kafka_partitions, const PayloadCodec* codec) {
  KafkaRecord r;
  r.topic = c.topic(e.domain());
  r.partition = kafka_partition(c, e, kafka_partitions);
  r.key = e.key();
  if (c.format == KafkaConfig::Format::kJson) {
    r.value = event_json(e);
    std::string json, error;
    if (codec && !e.payload().empty()) {
      r.value.pop_back();  // the closing brace
      if (codec->to_json(e.payload(), &json, &error)) {
        r.value += ",\"payload_json\":" + json + "}";
      } else {
        r.value += ",\"payload_error\":" + json_string(error) + "}";
      }
    }
  } else {
    e.SerializeToString(&r.value);
  }
  r.headers.emplace_back("id", event_id(e.domain(), e.partition(), e.seq()));
  r.headers.emplace_back("type", "event");
  r.headers.emplace_back("seq", std::to_string(e.seq()));
  r.headers.emplace_back("op", e.op());
  r.headers.emplace_back("schema_version", std::to_string(e.schema_version()));
  if (e.has_expected_version()) r.headers.emplace_back("expected_version", std::to_string(e.expected_version()));
  if (e.has_appended_at()) r.headers.emplace_back("appended_at", rfc3339(e.appended_at()));
  if (!e.headers_json().empty()) r.headers.emplace_back("headers", e.headers_json());
  return r;
}

std::vector<KafkaRecord> gap_records(const KafkaConfig& c, const v1::Gap& g, int kafka_partitions) {
  KafkaRecord r;
  r.topic = c.topic(g.domain());
  if (c.format == KafkaConfig::Format::kJson) {
    r.value = gap_json(g);
  } else {
    g.SerializeToString(&r.value);
  }
  r.headers.emplace_back("id", g.domain() + "/" + std::to_string(g.partition()) + "/gap-" + std::to_string(g.gap_id()));
  r.headers.emplace_back("type", "gap");
  r.headers.emplace_back("first_seq", std::to_string(g.first_seq()));
  r.headers.emplace_back("last_seq", std::to_string(g.last_seq()));
  std::vector<KafkaRecord> out;
  if (c.partitioning == KafkaConfig::Partitioning::kIntentlog) {
    r.partition = g.partition();
    out.push_back(std::move(r));
    return out;
  }
  for (int p = 0; p < kafka_partitions; ++p) {
    out.push_back(r);
    out.back().partition = p;
  }
  return out;
}

}  // namespace intentlog
