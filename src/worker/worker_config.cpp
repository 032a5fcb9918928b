#include "worker/worker_config.h"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace intentlog {
namespace {

template <class T>
bool parse_number(const std::string& s, T* out, T min, T max) {
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < min || v > max) return false;
  *out = v;
  return true;
}

// HOSTNAME/ENDPOINT: stable across restarts, so a restarted worker renews
// its own leases at once instead of waiting for them to expire, and unique
// per host because two live workers cannot listen on one endpoint.
std::string default_worker_id(const Endpoint& first) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return (std::string(host[0] ? host : "worker") + "/" + first.to_string()).substr(0, 200);  // leases allow 200
}

}  // namespace

const char* worker_usage() {
  static const std::string text =
      std::string(R"(intentlog-worker: drains intentlog domains and streams them to consumers.

usage: intentlog-worker [--db CONNINFO] [--listen unix:PATH | --listen tcp:HOST:PORT]...
                        [--token-file FILE] [--worker-id ID] [options]

  --db CONNINFO          libpq connection string (default: PGHOST, PGPORT, ... from the environment)
  --listen ENDPOINT      unix:PATH or tcp:HOST:PORT, repeatable (default: unix:/tmp/intentlog.sock)
  --token-file FILE      shared secret consumers send in Hello; required with a tcp: listener
  --auth MODE            token: TCP consumers send the --token-file token (the simple mode, every
                         group and domain); consumers: also the tokens of intentlog.create_consumer,
                         limited to their groups and domains (default: token)
  --auth-refresh-ms N    how often consumer credentials are re-read; a revoked consumer's
                         sessions are closed within this (default: 1000)
  --tls-cert FILE        TLS on every tcp: listener (TLS 1.2 or later): the server's certificate
                         chain (PEM)
  --tls-key FILE         its private key (PEM; default: the --tls-cert file)
  --tls-client-ca FILE   require client certificates signed by a CA of FILE (mTLS)
  --worker-id ID         name in leases and logs (default: HOSTNAME/FIRST-ENDPOINT)
  --socket-mode OCTAL    permissions of Unix sockets (default: 0660)
  --allow-uid UID        only this peer uid may use the Unix sockets (SO_PEERCRED), repeatable
                         (default: whoever the socket file's mode lets connect)
  --max-unauthenticated-per-peer N
                         connections a peer (TCP: IP address, Unix: uid) may hold open before
                         its Hello is accepted; more are closed at once (default: 64)
  --hello-timeout-ms N   close connections that send no Hello this long (default: 10000)
  --max-in-flight N      unacknowledged events per group and partition (default: 256)
  --buffer-events N      fetched, unacknowledged events per group and partition (default: 2000)
  --buffer-bytes N       the same bound in bytes (default: 4194304)
  --fetch-rows N         rows per fetch (default: 500)
  --max-frame-bytes N    largest frame a consumer may send (default: 1048576)
  --max-credit N         largest outstanding credit of a connection (default: 100000)
  --idle-timeout-ms N    close connections silent this long (default: 30000)
  --heartbeat-ms N       heartbeat interval (default: 5000)
  --poll-ms N            poll interval of partitions active in the last 10 s, a fallback for
                         wake-ups (default: 500); every partition is fetched once a minute
  --commit-interval-ms N how often acknowledged cursors are committed (default: 100)
  --lease-ttl-ms N       partition lease time; renewed every third of it (default: 10000)
  --ack-timeout-ms N     a delivery not acknowledged this long fails like a nack (default: 30000)
  --retry-poll-ms N      how often due retries are read while keys are held (default: 200)
  --replica CONNINFO     streaming standby the domains' state_query is read from first (default: none);
                         when it cannot be connected to (connect_timeout 2 s unless CONNINFO sets one),
                         the primary is read and the standby tried again after 100 ms doubling to 10 s
  --metrics tcp:HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics (default: off)
  --db-connections N     connections for fetches and commits (default: 2)
  --wait-connections N   connections for long polls (intentlog.fetch_wait), one per active
                         (group, domain); 0: wake-ups only (default: 1)
  --log-level LEVEL      trace, debug, info, warn, error (default: info)
  --help                 this text

Logs are key=value lines on stderr. SIGTERM or SIGINT: commit what consumers
acknowledged, release leases, exit 0.

)") + kafka_usage();
  return text.c_str();
}

std::optional<WorkerConfig> parse_worker_args(int argc, char** argv, std::string* error, bool* help) {
  WorkerConfig c;
  *help = false;
  std::string token_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (arg == "--help" || arg == "-h") {
      *help = true;
      return std::nullopt;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        *error = "missing value for " + arg;
        return std::nullopt;
      }
      value = argv[++i];
    }
    bool ok = true;
    long long n = 0;
    auto number = [&](long long min, long long max) {
      ok = parse_number<long long>(value, &n, min, max);
      return n;
    };
    if (arg == "--db") {
      c.db = value;
    } else if (arg == "--listen") {
      auto e = parse_endpoint(value, error);
      if (!e) return std::nullopt;
      c.listen.push_back(*e);
    } else if (arg == "--token-file") {
      token_file = value;
    } else if (arg == "--auth") {
      ok = value == "token" || value == "consumers";
      c.consumer_auth = value == "consumers";
    } else if (arg == "--auth-refresh-ms") {
      c.auth_refresh = std::chrono::milliseconds(number(50, 3600000));
    } else if (arg == "--tls-cert") {
      c.tls_cert = value;
    } else if (arg == "--tls-key") {
      c.tls_key = value;
    } else if (arg == "--tls-client-ca") {
      c.tls_client_ca = value;
    } else if (arg == "--worker-id") {
      c.worker_id = value;
      ok = !value.empty() && value.size() <= 200;
    } else if (arg == "--socket-mode") {
      unsigned mode = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), mode, 8);
      ok = ec == std::errc() && end == value.data() + value.size() && mode <= 0777;
      c.socket_mode = mode;
    } else if (arg == "--allow-uid") {
      c.allowed_uids.push_back(static_cast<unsigned>(number(0, 4294967294ll)));
    } else if (arg == "--max-unauthenticated-per-peer") {
      c.max_unauthenticated_per_peer = static_cast<std::size_t>(number(1, 1000000));
    } else if (arg == "--hello-timeout-ms") {
      c.hello_timeout = std::chrono::milliseconds(number(100, 3600000));
    } else if (arg == "--max-in-flight") {
      c.max_in_flight = static_cast<std::size_t>(number(1, 100000));
    } else if (arg == "--buffer-events") {
      c.buffer_events = static_cast<std::size_t>(number(1, 1000000));
    } else if (arg == "--buffer-bytes") {
      c.buffer_bytes = static_cast<std::size_t>(number(1 << 16, 1ll << 34));
    } else if (arg == "--fetch-rows") {
      c.fetch_rows = static_cast<int>(number(1, 100000));
    } else if (arg == "--max-frame-bytes") {
      c.max_frame_bytes = static_cast<std::uint32_t>(number(1024, 1ll << 30));
    } else if (arg == "--max-credit") {
      c.max_credit = static_cast<std::uint32_t>(number(1, 10000000));
    } else if (arg == "--idle-timeout-ms") {
      c.idle_timeout = std::chrono::milliseconds(number(100, 86400000));
    } else if (arg == "--heartbeat-ms") {
      c.heartbeat = std::chrono::milliseconds(number(10, 3600000));
    } else if (arg == "--poll-ms") {
      c.poll = std::chrono::milliseconds(number(1, 3600000));
    } else if (arg == "--commit-interval-ms") {
      c.commit_interval = std::chrono::milliseconds(number(1, 60000));
    } else if (arg == "--lease-ttl-ms") {
      c.lease_ttl = std::chrono::milliseconds(number(300, 3600000));
    } else if (arg == "--ack-timeout-ms") {
      c.ack_timeout = std::chrono::milliseconds(number(10, 86400000));
    } else if (arg == "--retry-poll-ms") {
      c.retry_poll = std::chrono::milliseconds(number(1, 60000));
    } else if (arg == "--replica") {
      c.replica = value;
    } else if (arg == "--metrics") {
      auto e = parse_endpoint(value, error);
      if (!e) return std::nullopt;
      if (e->kind != Endpoint::Kind::kTcp) {
        *error = "--metrics needs tcp:HOST:PORT, got '" + value + "'";
        return std::nullopt;
      }
      c.metrics = *e;
    } else if (arg == "--db-connections") {
      c.db_connections = static_cast<int>(number(1, 64));
    } else if (arg == "--wait-connections") {
      c.wait_connections = static_cast<int>(number(0, 64));
    } else if (arg == "--log-level") {
      c.log_level = value;
      ok = value == "trace" || value == "debug" || value == "info" || value == "warn" || value == "error";
    } else if (std::string why; parse_kafka_option(arg, value, &c.kafka, &why)) {
      if (!why.empty()) {
        *error = why;
        return std::nullopt;
      }
    } else {
      *error = "unknown option " + arg + " (see --help)";
      return std::nullopt;
    }
    if (!ok) {
      *error = "invalid value for " + arg + ": '" + value + "'";
      return std::nullopt;
    }
  }
  if (c.listen.empty()) c.listen.push_back(Endpoint{Endpoint::Kind::kUnix, kDefaultSocketPath, "", 0});
  if (c.worker_id.empty()) c.worker_id = default_worker_id(c.listen.front());
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) {
      *error = "cannot read token file " + token_file;
      return std::nullopt;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    c.token = ss.str();
    while (!c.token.empty() && (c.token.back() == '\n' || c.token.back() == '\r' || c.token.back() == ' '))
      c.token.pop_back();
    if (c.token.size() < 16) {
      *error = "token in " + token_file + " is shorter than 16 bytes";
      return std::nullopt;
    }
  }
  for (const auto& e : c.listen) {
    if (e.kind == Endpoint::Kind::kTcp && c.token.empty() && !c.consumer_auth) {
      *error = "a tcp: listener needs --token-file or --auth consumers (TCP consumers must authenticate)";
      return std::nullopt;
    }
  }
  if (c.tls_cert.empty() && (!c.tls_key.empty() || !c.tls_client_ca.empty())) {
    *error = "--tls-key and --tls-client-ca need --tls-cert";
    return std::nullopt;
  }
  if (c.tls_key.empty()) c.tls_key = c.tls_cert;
  if (!check_kafka_config(c.kafka, error)) return std::nullopt;
  if (c.buffer_events < c.max_in_flight) c.buffer_events = c.max_in_flight;
  return c;
}

}  // namespace intentlog
