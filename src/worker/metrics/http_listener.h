// HttpListener: `--metrics tcp:HOST:PORT`, a minimal HTTP/1.x server on the
// worker's Asio loop answering `GET /metrics` with Registry::render() (and
// 404/405 otherwise). One request per connection; requests larger than 8 KiB
// or slower than 5 s are dropped, so a bad scraper cannot hold memory.
#pragma once

#include <asio.hpp>
#include <memory>

#include "common/endpoint.h"
#include "worker/metrics/registry.h"

namespace intentlog::metrics {

class HttpListener {
 public:
  HttpListener(asio::io_context& io, const Endpoint& endpoint, Registry& registry);
  // Binds; throws std::runtime_error with a message a user can act on.
  void open();
  void close();
  unsigned short port() const;  // the bound port (for tcp:HOST:0)

 private:
  void accept();

  asio::io_context& io_;
  Endpoint endpoint_;
  Registry& registry_;
  asio::ip::tcp::acceptor acceptor_;
};

// The response to one request head (everything up to the blank line).
std::string http_response(const std::string& request_head, Registry& registry);

}  // namespace intentlog::metrics
