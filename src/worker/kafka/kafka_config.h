// KafkaConfig: what intentlog-worker publishes to Kafka and how — brokers,
// topic names, domains, the consumer group whose SQL cursors record what
// Kafka has, partitioning, the record value's format and librdkafka settings
// passed through (TLS, SASL, batching, compression). Plain data and its
// command-line options; no librdkafka here.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace intentlog {

struct KafkaConfig {
  enum class Partitioning { kIntentlog, kMurmur2 };
  enum class Format { kProtobuf, kJson };

  std::string brokers;  // bootstrap.servers; empty: no Kafka publication
  std::string topic_template = "intentlog.<domain>";
  std::vector<std::string> domains;  // published domains
  std::string group = "kafka";       // consumer group of the cursors, leases, retries
  Partitioning partitioning = Partitioning::kIntentlog;
  Format format = Format::kProtobuf;
  std::vector<std::pair<std::string, std::string>> settings;  // -X key=value, in order
  std::size_t max_outstanding = 50000;                        // records handed to librdkafka, not yet reported

  bool enabled() const { return !brokers.empty(); }
  // The topic of a domain: the template with every "<domain>" replaced.
  std::string topic(const std::string& domain) const;
};

// Handles one Kafka option of intentlog-worker's command line (`arg` is the
// option, `value` its value). Returns false when `arg` is not a Kafka option;
// sets `*error` when its value is bad.
bool parse_kafka_option(const std::string& arg, const std::string& value, KafkaConfig* c, std::string* error);
// Checks the options together (after the whole command line was read).
bool check_kafka_config(const KafkaConfig& c, std::string* error);
// The --help lines of the Kafka options.
const char* kafka_usage();

}  // namespace intentlog
