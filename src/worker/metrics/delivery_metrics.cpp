#include "worker/metrics/delivery_metrics.h"

namespace intentlog::metrics {

const StreamMetrics& DeliveryMetrics::stream(const std::string& group, const std::string& domain, int partition) {
  auto [it, inserted] = streams_.try_emplace(std::make_tuple(group, domain, partition));
  StreamMetrics& m = it->second;
  if (!inserted) return m;
  const Labels l{{"group", group}, {"domain", domain}, {"partition", std::to_string(partition)}};
  const Labels gd{{"group", group}, {"domain", domain}};
  Registry& r = registry_;
  m.fetched = &r.counter("intentlog_worker_fetched_total", "Intents fetched from the partition.", l);
  m.fetch_errors = &r.counter("intentlog_worker_fetch_errors_total", "Fetches that failed (retried).", l);
  m.delivered =
      &r.counter("intentlog_worker_delivered_total", "Events handed to consumers (redeliveries included).", l);
  m.acked = &r.counter("intentlog_worker_acked_total", "Events acknowledged by consumers.", l);
  m.nacked = &r.counter("intentlog_worker_nacked_total", "Events refused by consumers (nack).", l);
  m.redelivered =
      &r.counter("intentlog_worker_redelivered_total", "Failed events handed out again from intentlog.retries.", l);
  m.retries = &r.counter("intentlog_worker_retries_scheduled_total",
                         "Failed deliveries (nack, ack timeout, state read) that scheduled a retry.", l);
  m.dead_letters =
      &r.counter("intentlog_worker_dead_letters_total", "Failed deliveries that made a dead letter (this worker).", l);
  m.parked = &r.counter("intentlog_worker_parked_total", "Fetched intents parked behind a key held by a retry.", l);
  m.commits = &r.counter("intentlog_worker_commits_total", "Cursor commits stored.", l);
  m.fetch_seconds =
      &r.histogram("intentlog_worker_fetch_seconds",
                   "Time from a fetch request to its rows (pool queue wait included).", gd, latency_buckets());
  m.fetch_rows = &r.histogram("intentlog_worker_fetch_rows", "Rows per fetch.", gd, count_buckets());
  m.ack_seconds = &r.histogram("intentlog_worker_end_to_end_seconds",
                               "Time from an intent's appended_at to its acknowledgement.", gd, latency_buckets());
  return m;
}

Counter& DeliveryMetrics::leases_lost(const std::string& group, const std::string& domain) {
  return registry_.counter("intentlog_worker_leases_lost_total",
                           "Partition leases lost (taken by another worker, or not renewed in time).",
                           {{"group", group}, {"domain", domain}});
}

Counter& DeliveryMetrics::state_reads(const std::string& domain, const char* source) {
  return registry_.counter("intentlog_worker_state_reads_total", "Consistency reads of a key's state, by source.",
                           {{"domain", domain}, {"source", source}});
}

Counter& DeliveryMetrics::state_fallbacks(const std::string& domain) {
  return registry_.counter("intentlog_worker_state_primary_fallbacks_total",
                           "Consistency reads that went to the primary although a standby is configured (standby "
                           "down, failing or behind the intent).",
                           {{"domain", domain}});
}

}  // namespace intentlog::metrics
