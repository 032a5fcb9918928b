#include "worker/kafka/kafka_record.h"

#include <charconv>

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
  fill_event_record(c, e, kafka_partitions, codec, c.topic(e.domain()), &r);
  return r;
}

void fill_event_record(const KafkaConfig& c, const v1::Event& e, int kafka_partitions, const PayloadCodec* codec,
                       const std::string& topic, KafkaRecord* out) {
  KafkaRecord& r = *out;
  r.topic = topic;
  r.partition = kafka_partition(c, e, kafka_partitions);
  if (r.key)
    *r.key = e.key();
  else
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
  // Headers assigned in place: the strings of the previous record are reused.
  std::size_t n = 0;
  auto put = [&r, &n](const char* name, std::string_view value) {
    if (n == r.headers.size()) r.headers.emplace_back();
    r.headers[n].first.assign(name);
    r.headers[n].second.assign(value.data(), value.size());
    ++n;
  };
  char buf[64];
  auto number = [&buf](std::int64_t v) {
    const auto res = std::to_chars(buf, buf + sizeof buf, v);
    return std::string_view(buf, static_cast<std::size_t>(res.ptr - buf));
  };
  put("id", "");
  std::string& id = r.headers[0].second;
  id.append(e.domain()).push_back('/');
  id.append(number(e.partition())).push_back('/');
  id.append(number(e.seq()));
  put("type", "event");
  put("seq", number(e.seq()));
  put("op", e.op());
  put("schema_version", number(e.schema_version()));
  if (e.has_expected_version()) put("expected_version", number(e.expected_version()));
  if (e.has_appended_at()) put("appended_at", std::string_view(buf, rfc3339(e.appended_at(), buf)));
  if (!e.headers_json().empty()) put("headers", e.headers_json());
  r.headers.resize(n);
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
