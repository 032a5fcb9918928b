#include "worker/kafka/kafka_config.h"

#include <charconv>
#include <sstream>

namespace intentlog {
namespace {

// librdkafka settings the delivery guarantee rests on: per-key order across
// retries (idempotence), nothing acknowledged before every in-sync replica
// has it, and no message given up by timeout (a hole behind the cursor).
const std::pair<const char*, const char*> kForced[] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"message.timeout.ms", "0"},
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

std::string KafkaConfig::topic(const std::string& domain) const {
  static const std::string kPlaceholder = "<domain>";
  std::string t = topic_template;
  for (auto at = t.find(kPlaceholder); at != std::string::npos; at = t.find(kPlaceholder, at + domain.size()))
    t.replace(at, kPlaceholder.size(), domain);
  return t;
}

bool parse_kafka_option(const std::string& arg, const std::string& value, KafkaConfig* c, std::string* error) {
  if (arg == "--kafka-brokers") {
    c->brokers = value;
  } else if (arg == "--kafka-topic") {
    c->topic_template = value;
    if (value.empty()) *error = "--kafka-topic must not be empty";
  } else if (arg == "--kafka-domains") {
    for (auto& d : split_commas(value)) c->domains.push_back(d);
    if (c->domains.empty()) *error = "--kafka-domains needs at least one domain";
  } else if (arg == "--kafka-group") {
    c->group = value;
    if (value.empty() || value.size() > 63) *error = "invalid value for --kafka-group: '" + value + "'";
  } else if (arg == "--kafka-partitioning") {
    if (value == "intentlog")
      c->partitioning = KafkaConfig::Partitioning::kIntentlog;
    else if (value == "murmur2")
      c->partitioning = KafkaConfig::Partitioning::kMurmur2;
    else
      *error = "--kafka-partitioning must be intentlog or murmur2";
  } else if (arg == "--kafka-format") {
    if (value == "protobuf")
      c->format = KafkaConfig::Format::kProtobuf;
    else if (value == "json")
      c->format = KafkaConfig::Format::kJson;
    else
      *error = "--kafka-format must be protobuf or json";
  } else if (arg == "--kafka-max-outstanding") {
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size() || n < 1 || n > 10000000)
      *error = "invalid value for --kafka-max-outstanding: '" + value + "'";
    c->max_outstanding = n;
  } else if (arg == "-X" || arg == "--kafka-set") {
    const auto eq = value.find('=');
    if (eq == std::string::npos || eq == 0) {
      *error = arg + " takes KEY=VALUE (a librdkafka setting), not '" + value + "'";
      return true;
    }
    const std::string key = value.substr(0, eq), val = value.substr(eq + 1);
    for (const auto& [k, v] : kForced) {
      if (key == k && val != v) {
        *error = std::string("-X ") + k + "=" + val + " is refused: the worker needs " + k + "=" + v +
                 " for ordered, at-least-once delivery without holes";
        return true;
      }
    }
    if (key == "bootstrap.servers")
      c->brokers = val;
    else
      c->settings.emplace_back(key, val);
  } else {
    return false;
  }
  return true;
}

bool check_kafka_config(const KafkaConfig& c, std::string* error) {
  if (!c.enabled()) {
    if (!c.domains.empty()) *error = "--kafka-domains needs --kafka-brokers";
    return c.domains.empty();
  }
  if (c.domains.empty()) {
    *error = "--kafka-brokers needs --kafka-domains (the domains to publish)";
    return false;
  }
  return true;
}

const char* kafka_usage() {
  return R"(Kafka publication (off unless --kafka-brokers is given):
  --kafka-brokers LIST   bootstrap servers, HOST:PORT,...
  --kafka-domains LIST   domains to publish, comma-separated, repeatable
  --kafka-topic T        topic name; <domain> is replaced (default: intentlog.<domain>)
  --kafka-group NAME     consumer group whose cursors, leases and retries the publisher keeps (default: kafka)
  --kafka-partitioning M intentlog: Kafka partition = intentlog partition, the topic must have the domain's
                         partition count (default); murmur2: the Java client's key hash
  --kafka-format F       record value: protobuf (an intentlog.v1.Event, default) or json
  --kafka-max-outstanding N records given to librdkafka and not yet reported (default: 50000)
  -X KEY=VALUE           a librdkafka setting (security.protocol, sasl.*, ssl.*, linger.ms,
                         compression.type, ...), repeatable
)";
}

}  // namespace intentlog
