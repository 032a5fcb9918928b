// DeliveryMetrics: the series the delivery parts count into, per consumer
// group, domain and partition (docs/DESIGN.md, "Observability"). A
// PartitionStream looks its StreamMetrics up once, when it opens; from then
// on an event costs a few relaxed atomic adds on the event loop thread, no
// lookup and no lock. The series outlive the stream (a counter must not go
// back when a lease comes back). Histograms are per group and domain: a
// latency distribution per partition would multiply the series for little.
//
// Gauges of live state (in flight, buffered, leases held, consumers) are
// not here: the Coordinator computes them at scrape time from its streams.
#pragma once

#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "worker/metrics/registry.h"

namespace intentlog::metrics {

struct StreamMetrics {
  Counter* fetched = nullptr;
  Counter* fetch_errors = nullptr;
  Counter* delivered = nullptr;
  Counter* acked = nullptr;
  Counter* nacked = nullptr;
  Counter* redelivered = nullptr;   // due retries handed out again
  Counter* retries = nullptr;       // failures that scheduled a retry
  Counter* dead_letters = nullptr;  // failures that made a dead letter
  Counter* parked = nullptr;        // fetched intents parked behind a held key
  Counter* commits = nullptr;
  Histogram* fetch_seconds = nullptr;  // per group and domain
  Histogram* fetch_rows = nullptr;
  Histogram* ack_seconds = nullptr;  // appended_at to ack
};

class DeliveryMetrics {
 public:
  explicit DeliveryMetrics(Registry& registry) : registry_(registry) {}

  Registry& registry() { return registry_; }
  const StreamMetrics& stream(const std::string& group, const std::string& domain, int partition);
  Counter& leases_lost(const std::string& group, const std::string& domain);
  // Consistency reads by where they went (source "standby" or "primary"),
  // and reads that went to the primary although a standby is configured.
  Counter& state_reads(const std::string& domain, const char* source);
  Counter& state_fallbacks(const std::string& domain);

 private:
  Registry& registry_;
  std::map<std::tuple<std::string, std::string, int>, StreamMetrics> streams_;
};

}  // namespace intentlog::metrics
