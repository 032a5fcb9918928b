#include "worker/kafka/kafka_metrics.h"

#include <utility>

namespace intentlog {

KafkaMetrics::KafkaMetrics(metrics::Registry& registry, std::string group)
    : registry_(registry), group_(std::move(group)) {
  // Delivery reports against a nearby cluster take milliseconds; the
  // latency buckets start at 1 ms.
  report_seconds_ = &registry_.histogram("intentlog_kafka_report_seconds",
                                         "Time from handing a record to librdkafka to its delivery report.",
                                         {{"group", group_}}, metrics::latency_buckets());
  rebuilds_ = &registry_.counter("intentlog_kafka_producer_rebuilds_total",
                                 "Producers replaced after a fatal error (the group replays from its cursor).",
                                 {{"group", group_}});
}

const KafkaMetrics::Domain& KafkaMetrics::domain(const std::string& domain, const std::string& topic) {
  auto [it, inserted] = domains_.try_emplace(domain);
  Domain& d = it->second;
  if (!inserted) return d;
  const metrics::Labels l{{"group", group_}, {"domain", domain}, {"topic", topic}};
  auto report = [&](const char* outcome) {
    metrics::Labels lo = l;
    lo.emplace_back("outcome", outcome);
    return &registry_.counter("intentlog_kafka_reports_total",
                              "Delivery reports of intent records, by outcome (persisted: the event's ack; failed "
                              "and unconfirmed: a nack, published again through the retry path).",
                              lo);
  };
  d.produced = &registry_.counter("intentlog_kafka_produced_total", "Intent records handed to librdkafka.", l);
  d.persisted = report("persisted");
  d.failed = report("failed");
  d.unconfirmed = report("unconfirmed");
  d.gap_records =
      &registry_.counter("intentlog_kafka_gap_records_total", "Gap records produced for a staged domain's loss.", l);
  return d;
}

void KafkaMetrics::error(Stage stage, rd_kafka_resp_err_t err) {
  const char* where = stage == Stage::kProduce ? "produce" : stage == Stage::kReport ? "report" : "client";
  registry_
      .counter("intentlog_kafka_errors_total",
               "Kafka errors by where they were seen (produce: librdkafka refused the record; report: a failed "
               "delivery report; client: librdkafka's error callback, e.g. brokers down) and librdkafka's name.",
               {{"group", group_}, {"stage", where}, {"error", rd_kafka_err2name(err)}})
      .inc();
}

}  // namespace intentlog
