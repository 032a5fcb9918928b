// KafkaRecord: what one intent (or one Gap notice of a staged domain) becomes
// in Kafka — topic, partition, key, value and headers. Pure functions of the
// event and the configuration; no librdkafka here, so GoogleTest covers them.
//
// Event records: key = the intent's key; value = the intentlog.v1.Event
// (Protobuf, or JSON with the payload decoded through the domain's schema);
// headers:
//   id               domain/partition/seq, the de-duplication key (Debezium's `id`)
//   type             "event"
//   seq, op, schema_version, expected_version (absent when none), appended_at (RFC 3339, UTC)
//   headers          the intent's headers JSON (absent when none)
// Gap records (a staged domain lost a seq range in a server crash): no key;
// value = the intentlog.v1.Gap; headers id = domain/partition/gap-GAPID,
// type "gap", first_seq, last_seq. With intentlog partitioning it goes to the
// Kafka partition of the intentlog partition; with murmur2 the lost keys may
// have hashed anywhere, so one record goes to every Kafka partition.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "intentlog/v1/event.pb.h"
#include "worker/kafka/kafka_config.h"

namespace intentlog {

class PayloadCodec;

struct KafkaRecord {
  std::string topic;
  int partition = 0;
  std::optional<std::string> key;  // none: a gap record
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// The Kafka partition of an intent: its intentlog partition, or the Java
// client's murmur2 of its key. `kafka_partitions` is the topic's count.
int kafka_partition(const KafkaConfig& c, const v1::Event& e, int kafka_partitions);

// `codec` decodes the payload for the JSON format (nullptr: payload in base64 only).
KafkaRecord event_record(const KafkaConfig& c, const v1::Event& e, int kafka_partitions, const PayloadCodec* codec);
// The same record written into `*r`, whose strings keep their capacity from
// one record to the next (the publisher reuses one: no allocation per record
// once warm). `topic` is c.topic(e.domain()), computed once by the caller.
void fill_event_record(const KafkaConfig& c, const v1::Event& e, int kafka_partitions, const PayloadCodec* codec,
                       const std::string& topic, KafkaRecord* r);

std::vector<KafkaRecord> gap_records(const KafkaConfig& c, const v1::Gap& g, int kafka_partitions);

// The Debezium-style identity header of an intent: "domain/partition/seq".
std::string event_id(const std::string& domain, int partition, std::int64_t seq);

}  // namespace intentlog
