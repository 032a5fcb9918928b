// SqlGauges: what the database knows and the worker does not, read from the
// operational views a DBA sees in psql, while --metrics is on:
//   intentlog.lag              intentlog_lag_seqs, intentlog_lag_seconds (age
//                              of the oldest undelivered intent, 0 when none),
//                              intentlog_committed_seq, per group, domain and
//                              partition;
//   intentlog.delivery_backlog intentlog_retries, intentlog_retries_due,
//                              intentlog_parked, intentlog_dead_letters, per
//                              group and domain.
// Every group's rows, read by this worker or not (with several workers,
// aggregate with max). One read on the SQL pool every `period`, and one when a
// scrape finds the last read older than a second, so a scrape shows what the
// previous one caused; never on the delivery path.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "worker/db_pool.h"
#include "worker/metrics/registry.h"

namespace intentlog::metrics {

struct LagRow {
  std::string group;
  std::string domain;
  int partition = 0;
  double seq_lag = 0;
  double age_seconds = 0;
  double watermark = 0;
};

struct BacklogRow {
  std::string group;
  std::string domain;
  double retries = 0;
  double retries_due = 0;
  double parked = 0;
  double dead_letters = 0;
};

struct SqlGaugeRows {
  std::vector<LagRow> lag;
  std::vector<BacklogRow> backlog;
};

class SqlGauges {
 public:
  using Clock = std::chrono::steady_clock;
  SqlGauges(asio::io_context& io, DbPool& db, Registry& registry, std::chrono::milliseconds period);
  void start();
  void stop();

 private:
  void tick();
  void refresh();

  DbPool& db_;
  asio::steady_timer timer_;
  std::chrono::milliseconds period_;
  SqlGaugeRows rows_;  // the last successful read (event loop thread)
  Clock::time_point read_at_{};
  bool in_flight_ = false;
  bool stopped_ = false;
  Counter& failures_;
};

}  // namespace intentlog::metrics
