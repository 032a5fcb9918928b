#include "worker/net/server.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "worker/coordinator.h"
#include "worker/db_pool.h"
#include "worker/delivery/sink.h"
#include "worker/log_fields.h"
#include "worker/net/session.h"

namespace intentlog {
namespace {

constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr auto kLogInterval = std::chrono::seconds(10);
constexpr std::size_t kShedPerPause = 16;

// A socket file left by a dead worker is removed; one a live worker answers
// on is an error (two workers must not share a path).
void clear_stale_socket(asio::io_context& io, const std::string& path) {
  struct stat sb {};
  if (lstat(path.c_str(), &sb) != 0) return;
  if (!S_ISSOCK(sb.st_mode)) throw std::runtime_error(path + " exists and is not a socket");
  asio::local::stream_protocol::socket probe(io);
  asio::error_code ec;
  probe.connect(asio::local::stream_protocol::endpoint(path), ec);
  if (!ec) throw std::runtime_error("another process is listening on " + path);
  ::unlink(path.c_str());
}

bool out_of_descriptors(const asio::error_code& ec) {
  return ec.value() == EMFILE || ec.value() == ENFILE || ec.value() == ENOBUFS || ec.value() == ENOMEM;
}

std::string tcp_peer(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  asio::ip::tcp::endpoint remote;
  std::memcpy(remote.data(), &ss, std::min<std::size_t>(len, remote.capacity()));
  remote.resize(len);
  return remote.address().to_string() + ":" + std::to_string(remote.port());
}

std::string rlimit_nofile() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return "unknown";
  return std::to_string(rl.rlim_cur);
}

}  // namespace

Server::Server(asio::io_context& io, const WorkerConfig& cfg, Coordinator& coordinator, DbPool& db)
    : io_(io),
      cfg_(cfg),
      coordinator_(coordinator),
      db_(db),
      access_(cfg),
      refresh_(io),
      guard_(PeerGuard::Limits{cfg.max_unauthenticated_per_peer, 10, std::chrono::seconds(1), kLogInterval, 4096}),
      accept_log_(kLogInterval),
      refuse_log_(kLogInterval) {}

Server::~Server() { close(); }

void Server::open() {
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (!cfg_.tls_cert.empty()) tls_ = make_tls_context(cfg_);
  if (cfg_.consumer_auth) {
    // Loaded before the first connection is accepted, so that no consumer is
    // refused for the worker's having just started.
    try {
      Store store(cfg_.db);
      access_.update(store.consumer_credentials());
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("--auth consumers: cannot read intentlog.consumer_credentials(): ") +
                               e.what());
    }
    spdlog::info("event=credentials_loaded consumers={}", access_.credentials().size());
    refresh_credentials();
  }
  for (const auto& e : cfg_.listen) {
    asio::generic::stream_protocol::endpoint ep;
    if (e.kind == Endpoint::Kind::kUnix) {
      clear_stale_socket(io_, e.path);
      ep = asio::local::stream_protocol::endpoint(e.path);
    } else {
      asio::ip::tcp::resolver resolver(io_);
      asio::error_code ec;
      auto results = resolver.resolve(e.host, std::to_string(e.port), ec);
      if (ec || results.empty()) throw std::runtime_error("cannot resolve " + e.host + ": " + ec.message());
      ep = results.begin()->endpoint();
    }
    auto l = std::make_unique<Listener>(
        Listener{e, asio::basic_socket_acceptor<asio::generic::stream_protocol>(io_), asio::steady_timer(io_)});
    asio::error_code ec;
    l->acceptor.open(ep.protocol(), ec);
    if (!ec && e.kind == Endpoint::Kind::kTcp) l->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) l->acceptor.bind(ep, ec);
    if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + e.to_string() + ": " + ec.message());
    if (e.kind == Endpoint::Kind::kUnix && ::chmod(e.path.c_str(), cfg_.socket_mode) != 0) {
      throw std::runtime_error("cannot chmod " + e.path + ": " + std::strerror(errno));
    }
    const bool tcp = e.kind == Endpoint::Kind::kTcp;
    spdlog::info("event=listening endpoint={} token_required={} tls={} client_certificates={}", q(e.to_string()),
                 tcp ? "true" : "false", tcp && tls_ ? "true" : "false",
                 tcp && tls_ && !cfg_.tls_client_ca.empty() ? "required" : "no");
    listeners_.push_back(std::move(l));
    accept(*listeners_.back());
  }
}

void Server::accept(Listener& l) {
  l.acceptor.async_accept([this, &l](const asio::error_code& ec, Socket socket) {
    if (ec == asio::error::operation_aborted || !l.acceptor.is_open()) return;
    if (ec) {
      on_accept_error(l, ec);  // accepts again after a pause
      return;
    }
    admit(l, std::move(socket));
    accept(l);
  });
}

void Server::admit(Listener& l, Socket socket) {
  const bool tcp = l.endpoint.kind == Endpoint::Kind::kTcp;
  std::string peer = l.endpoint.to_string();
  std::string key;
  if (tcp) {
    asio::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    const std::string remote = tcp_peer(socket.native_handle());
    if (!remote.empty()) peer = "tcp:" + remote;
    key = "ip:" + remote.substr(0, remote.rfind(':'));
  } else {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      refuse("no peer credentials", peer);
      return;
    }
    key = "uid:" + std::to_string(cred.uid);
    peer += " uid=" + std::to_string(cred.uid) + " pid=" + std::to_string(cred.pid);
    if (!cfg_.allowed_uids.empty() &&
        std::find(cfg_.allowed_uids.begin(), cfg_.allowed_uids.end(), cred.uid) == cfg_.allowed_uids.end()) {
      refuse("uid not allowed", peer);
      return;
    }
  }
  if (!guard_.open(key)) {
    refuse("too many connections without Hello from this peer", peer);
    return;
  }
  auto session =
      std::make_shared<Session>(std::move(socket), allocate_member_id(), tcp, std::move(peer), std::move(key), cfg_,
                                coordinator_, guard_, access_, tcp ? tls_.get() : nullptr);
  session->start();
}

// Closed at once, logged at most once per interval (a peer can repeat it at will).
void Server::refuse(const std::string& why, const std::string& peer) {
  std::uint64_t suppressed = 0;
  if (refuse_log_.allow(LogThrottle::Clock::now(), &suppressed)) {
    spdlog::warn("event=connection_refused peer={} reason={} not_logged_before={}", q(peer), q(why), suppressed);
  }
}

// Out of descriptors, the listening socket stays readable: accepting again
// at once fails again at once, forever. Instead: close a few waiting
// connections (each through the spare descriptor), then wait.
void Server::on_accept_error(Listener& l, const asio::error_code& ec) {
  std::size_t shed_now = 0;
  if (out_of_descriptors(ec)) shed_now = shed(l);
  shed_total_ += shed_now;
  std::uint64_t suppressed = 0;
  if (accept_log_.allow(LogThrottle::Clock::now(), &suppressed)) {
    spdlog::warn(
        "event=accept_failed endpoint={} error={} open_files_limit={} connections_closed={} not_logged_before={}",
        q(l.endpoint.to_string()), q(ec.message()), rlimit_nofile(), shed_total_, suppressed);
  }
  l.pause.expires_after(kAcceptPause);
  l.pause.async_wait([this, &l](const asio::error_code& e) {
    if (!e && l.acceptor.is_open()) accept(l);
  });
}

std::size_t Server::shed(Listener& l) {
  std::size_t n = 0;
  while (n < kShedPerPause && spare_fd_ >= 0) {
    ::close(spare_fd_);
    const int fd = ::accept4(l.acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) ::close(fd);
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;  // nothing waiting (EAGAIN), or another thread took the descriptor
    ++n;
  }
  return n;
}

// Every --auth-refresh-ms: a revoked consumer's sessions end within that. A
// database outage keeps the credentials last read (logged once per outage).
void Server::refresh_credentials() {
  refresh_.expires_after(cfg_.auth_refresh);
  refresh_.async_wait([this](const asio::error_code& ec) {
    if (ec) return;
    db_.run([](Store& store) { return store.consumer_credentials(); },
            [this](std::vector<ConsumerCredential> all) {
              if (refresh_failing_) spdlog::info("event=credentials_refresh_recovered");
              refresh_failing_ = false;
              if (const std::size_t closed = access_.update(std::move(all)); closed > 0) {
                spdlog::info("event=credentials_changed consumers={} sessions_closed={}", access_.credentials().size(),
                             closed);
              }
              if (!listeners_.empty()) refresh_credentials();
            },
            [this](const std::string& error) {
              if (!refresh_failing_) spdlog::warn("event=credentials_refresh_failed error={}", q(error));
              refresh_failing_ = true;
              if (!listeners_.empty()) refresh_credentials();
            });
  });
}

void Server::close() {
  refresh_.cancel();
  for (auto& l : listeners_) {
    asio::error_code ignored;
    l->pause.cancel();
    l->acceptor.close(ignored);
    if (l->endpoint.kind == Endpoint::Kind::kUnix) ::unlink(l->endpoint.path.c_str());
  }
  listeners_.clear();
  if (spare_fd_ >= 0) ::close(spare_fd_);
  spare_fd_ = -1;
}

}  // namespace intentlog
