// KafkaMetrics: the Kafka publisher's series (docs/DESIGN.md,
// "Observability"), next to the delivery series of its group: records
// produced, delivery reports by outcome, errors by where they were seen and
// librdkafka's error name, produce -> report latency, producer rebuilds.
// Handles are looked up once per domain (when its topic is checked) and per
// error name (on the error path only), so a record costs relaxed atomic adds.
#pragma once

#include <librdkafka/rdkafka.h>

#include <map>
#include <string>

#include "worker/metrics/registry.h"

namespace intentlog {

class KafkaMetrics {
 public:
  struct Domain {
    metrics::Counter* produced = nullptr;
    metrics::Counter* persisted = nullptr;
    metrics::Counter* failed = nullptr;
    metrics::Counter* unconfirmed = nullptr;  // "persisted" without an offset: published again
    metrics::Counter* gap_records = nullptr;
  };
  // Where an error was seen: librdkafka refused a record at once, a delivery
  // report carried it, or librdkafka's error callback (transport, brokers
  // down: librdkafka retries those by itself).
  enum class Stage { kProduce, kReport, kClient };

  KafkaMetrics(metrics::Registry& registry, std::string group);

  const Domain& domain(const std::string& domain, const std::string& topic);
  void error(Stage stage, rd_kafka_resp_err_t err);
  metrics::Histogram& report_seconds() { return *report_seconds_; }
  metrics::Counter& rebuilds() { return *rebuilds_; }
  metrics::Registry& registry() { return registry_; }
  const std::string& group() const { return group_; }

 private:
  metrics::Registry& registry_;
  std::string group_;
  std::map<std::string, Domain> domains_;
  metrics::Histogram* report_seconds_;
  metrics::Counter* rebuilds_;
};

}  // namespace intentlog
