// intentlog-worker: drains intentlog domains per key and streams them to
// consumers over Unix/TCP sockets (see worker_usage() and docs/DESIGN.md).
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <asio.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <pqxx/pqxx>

#include "worker/coordinator.h"
#include "worker/db_pool.h"
#include "worker/kafka/kafka_sink.h"
#include "worker/log_fields.h"
#include "worker/metrics/http_listener.h"
#include "worker/metrics/registry.h"
#include "worker/metrics/sql_gauges.h"
#include "worker/net/server.h"
#include "worker/store.h"
#include "worker/wakeup_listener.h"
#include "worker/worker_config.h"

using namespace intentlog;

namespace {

constexpr auto kKafkaDrain = std::chrono::seconds(5);

// Fails fast, with a message a first user can act on, when the database is
// unreachable or lacks the extension; later outages are retried instead.
bool check_database(const WorkerConfig& cfg) {
  try {
    pqxx::connection conn(cfg.db);
    pqxx::nontransaction tx(conn);
    auto r = tx.exec("SELECT extversion FROM pg_extension WHERE extname = 'intentlog'");
    if (r.empty()) {
      spdlog::error("event=startup_failed error={}",
                    q("the intentlog extension is not installed in database " + std::string(conn.dbname()) +
                      " (run: CREATE EXTENSION intentlog)"));
      return false;
    }
    spdlog::info("event=database database={} extension_version={}", q(conn.dbname()), r[0][0].c_str());
    return true;
  } catch (const std::exception& e) {
    spdlog::error("event=startup_failed error={}", q(std::string("cannot connect to PostgreSQL: ") + e.what()));
    return false;
  }
}

// Every consumer connection is a descriptor: take the hard limit, not the
// soft one (often 1024). Returns the limit in force.
rlim_t raise_open_files_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur;
}

// The partition count of every domain, for the Kafka topics' check.
std::map<std::string, int> domain_partitions(const WorkerConfig& cfg) {
  Store store(cfg.db);
  std::map<std::string, int> out;
  for (const auto& d : store.domains()) out[d.name] = d.partitions;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string error;
  bool help = false;
  auto parsed = parse_worker_args(argc, argv, &error, &help);
  if (help) {
    std::fputs(worker_usage(), stdout);
    return 0;
  }
  if (!parsed) {
    std::fprintf(stderr, "intentlog-worker: %s\n", error.c_str());
    return 2;
  }
  const WorkerConfig cfg = *parsed;
  setup_logging(cfg.log_level, "intentlog-worker");
  std::signal(SIGPIPE, SIG_IGN);
  const rlim_t open_files = raise_open_files_limit();
  if (!check_database(cfg)) return 1;

  asio::io_context io;
  metrics::Registry registry;
  metrics::register_process(registry, cfg.worker_id);
  std::unique_ptr<metrics::HttpListener> metrics_http;
  if (cfg.metrics) metrics_http = std::make_unique<metrics::HttpListener>(io, *cfg.metrics, registry);
  DbPool db(io, cfg.db, cfg.db_connections);
  // Long polls hold their connection while they wait: a pool of their own.
  std::unique_ptr<DbPool> waits;
  if (cfg.wait_connections > 0) waits = std::make_unique<DbPool>(io, cfg.db, cfg.wait_connections);
  Coordinator coordinator(io, cfg, db, registry, waits.get());
  std::unique_ptr<metrics::SqlGauges> sql_gauges;
  if (cfg.metrics) sql_gauges = std::make_unique<metrics::SqlGauges>(io, db, registry, std::chrono::seconds(5));
  Server server(io, cfg, coordinator, db);
  WakeupListener listener(
      io, cfg.db, [&](const std::string& d, int p) { coordinator.on_wakeup(d, p); },
      [&] { coordinator.on_listener_reconnect(); });
  coordinator.set_listener_pause([&](bool paused) { listener.set_paused(paused); });
  // Kafka publication: a member of its group for the worker's life.
  std::shared_ptr<KafkaSink> kafka;
  if (cfg.kafka.enabled()) {
    kafka = std::make_shared<KafkaSink>(io, cfg.kafka, db, coordinator, registry);
    std::string why;
    bool ok = false;
    try {
      ok = kafka->prepare(domain_partitions(cfg), &why);
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (!ok) {
      spdlog::error("event=startup_failed error={}", q("Kafka: " + why));
      kafka.reset();
      db.stop();
      return 1;
    }
  }
  try {
    server.open();
    if (metrics_http) metrics_http->open();
  } catch (const std::exception& e) {
    spdlog::error("event=startup_failed error={}", q(e.what()));
    db.stop();
    return 1;
  }
  listener.start();
  coordinator.start();
  if (sql_gauges) sql_gauges->start();
  if (kafka) kafka->start();
  spdlog::info("event=started worker_id={} max_in_flight={} buffer_events={} lease_ttl_ms={} open_files_limit={}",
               q(cfg.worker_id), cfg.max_in_flight, cfg.buffer_events, cfg.lease_ttl.count(),
               static_cast<unsigned long long>(open_files));

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("event=signal signal={}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server.close();
    if (metrics_http) metrics_http->close();
    if (sql_gauges) sql_gauges->stop();
    if (kafka) kafka->drain(kKafkaDrain);  // what Kafka has is acked before the final commits
    coordinator.shutdown([&] { io.stop(); });
    // A second signal stops at once.
    signals.async_wait([&](const asio::error_code& e, int) {
      if (!e) io.stop();
    });
  });

  io.run();
  listener.stop();
  kafka.reset();
  if (waits) waits->stop();
  db.stop();
  spdlog::info("event=stopped");
  return 0;
}
