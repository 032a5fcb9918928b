// Server: the listening sockets. Unix sockets (the default; access is
// governed by the socket file's permissions) and TCP (consumers must send
// the token in Hello). Each accepted connection becomes a Session.
#pragma once

#include <asio.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/endpoint.h"
#include "worker/worker_config.h"

namespace intentlog {

class Coordinator;

class Server {
 public:
  Server(asio::io_context& io, const WorkerConfig& cfg, Coordinator& coordinator);
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
  };
  void accept(Listener& l);

  asio::io_context& io_;
  const WorkerConfig& cfg_;
  Coordinator& coordinator_;
  std::vector<std::unique_ptr<Listener>> listeners_;
};

}  // namespace intentlog
