#include "worker/metrics/sql_gauges.h"

#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

#include "worker/log_fields.h"

namespace intentlog::metrics {
namespace {

constexpr auto kFreshEnough = std::chrono::seconds(1);

SqlGaugeRows read_views(pqxx::connection& conn) {
  pqxx::read_transaction tx(conn);
  SqlGaugeRows rows;
  for (const auto& r : tx.exec("SELECT group_name, domain, partition, seq_lag, "
                               "coalesce(extract(epoch FROM oldest_undelivered_age), 0)::float8, watermark "
                               "FROM intentlog.lag")) {
    rows.lag.push_back(LagRow{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int>(), r[3].as<double>(),
                              r[4].as<double>(), r[5].as<double>()});
  }
  for (const auto& r : tx.exec("SELECT group_name, domain, retries, retries_due, parked, dead_letters "
                               "FROM intentlog.delivery_backlog")) {
    rows.backlog.push_back(BacklogRow{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<double>(),
                                      r[3].as<double>(), r[4].as<double>(), r[5].as<double>()});
  }
  tx.commit();
  return rows;
}

}  // namespace

SqlGauges::SqlGauges(asio::io_context& io, DbPool& db, Registry& registry, std::chrono::milliseconds period)
    : db_(db),
      timer_(io),
      period_(period),
      failures_(registry.counter("intentlog_sql_gauge_read_failures_total",
                                 "Reads of intentlog.lag and intentlog.delivery_backlog that failed.")) {
  auto lag = [&](const char* name, const char* help, double LagRow::*field) {
    registry.collect(name, help, [this, field](Registry::Samples& out) {
      if (Clock::now() - read_at_ > kFreshEnough) refresh();
      for (const auto& r : rows_.lag)
        out.push_back(
            {{{"group", r.group}, {"domain", r.domain}, {"partition", std::to_string(r.partition)}}, r.*field});
    });
  };
  lag("intentlog_lag_seqs", "Seqs from the committed cursor to the newest committed intent not read (intentlog.lag).",
      &LagRow::seq_lag);
  lag("intentlog_lag_seconds", "Age of the oldest undelivered intent, 0 when none (intentlog.lag).",
      &LagRow::age_seconds);
  lag("intentlog_committed_seq", "The group's committed watermark (intentlog.lag).", &LagRow::watermark);
  auto backlog = [&](const char* name, const char* help, double BacklogRow::*field) {
    registry.collect(name, help, [this, field](Registry::Samples& out) {
      for (const auto& r : rows_.backlog) out.push_back({{{"group", r.group}, {"domain", r.domain}}, r.*field});
    });
  };
  backlog("intentlog_retries", "Intents waiting for a retry (intentlog.delivery_backlog).", &BacklogRow::retries);
  backlog("intentlog_retries_due", "Retries due now (intentlog.delivery_backlog).", &BacklogRow::retries_due);
  backlog("intentlog_parked", "Intents parked behind a key held by a retry (intentlog.delivery_backlog).",
          &BacklogRow::parked);
  backlog("intentlog_dead_letters", "Dead letters stored (intentlog.delivery_backlog).", &BacklogRow::dead_letters);
}

void SqlGauges::start() { tick(); }

void SqlGauges::stop() {
  stopped_ = true;
  timer_.cancel();
}

void SqlGauges::tick() {
  if (stopped_) return;
  refresh();
  timer_.expires_after(period_);
  timer_.async_wait([this](const asio::error_code& ec) {
    if (!ec) tick();
  });
}

void SqlGauges::refresh() {
  if (in_flight_ || stopped_) return;
  in_flight_ = true;
  db_.run([](Store& store) { return read_views(store.conn()); },
          [this](SqlGaugeRows rows) {
            in_flight_ = false;
            read_at_ = Clock::now();
            rows_ = std::move(rows);
          },
          [this](const std::string& error) {
            in_flight_ = false;
            failures_.inc();
            spdlog::warn("event=sql_gauges_failed error={}", q(error));
          });
}

}  // namespace intentlog::metrics
