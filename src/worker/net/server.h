// Server: the listening sockets. Unix sockets (the default; access is
// governed by the socket file's permissions and, optionally, a list of peer
// uids) and TCP (consumers must send the token in Hello). Each accepted
// connection becomes a Session.
//
// Running out of descriptors is not an error to retry at once: accept then
// closes one waiting connection with a spare descriptor kept for that (the
// peer sees a clean close, not a hang), logs at most once per interval, and
// pauses before accepting again. PeerGuard bounds the connections each peer
// may hold open before Hello.
#pragma once

#include <asio.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/endpoint.h"
#include "worker/log_throttle.h"
#include "worker/net/access.h"
#include "worker/net/peer_guard.h"
#include "worker/net/tls.h"
#include "worker/worker_config.h"

namespace intentlog {

class Coordinator;
class DbPool;

class Server {
 public:
  // `db` reads the consumer credentials (--auth consumers).
  Server(asio::io_context& io, const WorkerConfig& cfg, Coordinator& coordinator, DbPool& db);
  ~Server();

  // Binds every --listen endpoint; throws std::runtime_error with a message
  // a user can act on (path in use by a live worker, port taken, ...).
  void open();
  // Stops accepting and removes the Unix socket files.
  void close();

 private:
  struct Listener {
    Endpoint endpoint;
    asio::basic_socket_acceptor<asio::generic::stream_protocol> acceptor;
    asio::steady_timer pause;  // after a failed accept
  };
  using Socket = asio::generic::stream_protocol::socket;

  void accept(Listener& l);
  void admit(Listener& l, Socket socket);
  void on_accept_error(Listener& l, const asio::error_code& ec);
  std::size_t shed(Listener& l);
  void refuse(const std::string& why, const std::string& peer);
  void refresh_credentials();

  asio::io_context& io_;
  const WorkerConfig& cfg_;
  Coordinator& coordinator_;
  DbPool& db_;
  Access access_;
  asio::steady_timer refresh_;
  bool refresh_failing_ = false;
  std::vector<std::unique_ptr<Listener>> listeners_;
  PeerGuard guard_;
  std::unique_ptr<asio::ssl::context> tls_;  // for TCP listeners; none: plain text
  int spare_fd_ = -1;                        // closed to accept-and-close one connection when out of descriptors
  LogThrottle accept_log_;
  LogThrottle refuse_log_;
  std::uint64_t shed_total_ = 0;
};

}  // namespace intentlog
