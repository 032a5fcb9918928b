// WorkerConfig: every tunable of intentlog-worker, with the defaults a first
// user gets, and its command-line parser.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/endpoint.h"
#include "worker/kafka/kafka_config.h"

namespace intentlog {

struct WorkerConfig {
  std::string db;  // libpq conninfo; empty: PGHOST, PGPORT, ... from the environment
  std::vector<Endpoint> listen;
  std::string token;  // from --token-file; required when any listener is TCP
  // TLS on every TCP listener when tls_cert is set; client certificates
  // (signed by tls_client_ca) required when that is set.
  // --auth consumers: Hello tokens are also checked against
  // intentlog.consumers (re-read every auth_refresh) with their grants.
  bool consumer_auth = false;
  std::chrono::milliseconds auth_refresh{1000};
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::string worker_id;
  unsigned socket_mode = 0660;                    // permissions of Unix sockets
  std::vector<unsigned> allowed_uids;             // Unix peers (SO_PEERCRED) allowed; empty: any the file mode lets in
  std::size_t max_unauthenticated_per_peer = 64;  // connections per peer (IP, uid) before Hello

  // Delivery, per (group, domain, partition).
  std::size_t max_in_flight = 256;      // unacknowledged events
  std::size_t buffer_events = 2000;     // fetched and not yet acknowledged
  std::size_t buffer_bytes = 4u << 20;  // the same, in (approximate) bytes
  int fetch_rows = 500;                 // rows per intentlog.fetch call

  // Per connection.
  std::uint32_t max_frame_bytes = 1u << 20;  // largest client frame
  std::uint32_t max_credit = 100000;         // largest outstanding credit
  std::size_t max_batch_events = 500;        // events per Batch frame
  std::size_t max_batch_bytes = 1u << 20;    // soft size of a Batch frame
  std::size_t max_queued_bytes = 4u << 20;   // frames queued for a slow socket
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds hello_timeout{10000};
  std::chrono::milliseconds heartbeat{5000};

  // Timing.
  std::chrono::milliseconds poll{500};  // fallback for missed wake-ups
  std::chrono::milliseconds commit_interval{100};
  std::chrono::milliseconds lease_ttl{10000};  // renewed every ttl/3
  // A delivery not acknowledged this long fails like a nack (SQL retry).
  std::chrono::milliseconds ack_timeout{30000};
  std::chrono::milliseconds retry_poll{200};  // intentlog.due_retries while keys are held
  int db_connections = 2;
  int wait_connections = 1;         // long polls (intentlog.fetch_wait) of active (group, domain)s
  std::string replica;              // libpq conninfo of a streaming standby for state reads; empty: none
  std::optional<Endpoint> metrics;  // --metrics tcp:HOST:PORT: Prometheus text format at /metrics

  std::string log_level = "info";

  KafkaConfig kafka;  // publication to Kafka (worker/kafka); off unless brokers are given
};

// Parses argv. Returns nothing and sets `*error` on a bad command line; sets
// `*help` and returns nothing for --help.
std::optional<WorkerConfig> parse_worker_args(int argc, char** argv, std::string* error, bool* help);

const char* worker_usage();

}  // namespace intentlog
