#include "worker/net/server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "worker/coordinator.h"
#include "worker/delivery/sink.h"
#include "worker/log_fields.h"
#include "worker/net/session.h"

namespace intentlog {
namespace {

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

}  // namespace

Server::Server(asio::io_context& io, const WorkerConfig& cfg, Coordinator& coordinator)
    : io_(io), cfg_(cfg), coordinator_(coordinator) {}

Server::~Server() { close(); }

void Server::open() {
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
    auto l = std::make_unique<Listener>(Listener{e, asio::basic_socket_acceptor<asio::generic::stream_protocol>(io_)});
    asio::error_code ec;
    l->acceptor.open(ep.protocol(), ec);
    if (!ec && e.kind == Endpoint::Kind::kTcp) l->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) l->acceptor.bind(ep, ec);
    if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + e.to_string() + ": " + ec.message());
    if (e.kind == Endpoint::Kind::kUnix && ::chmod(e.path.c_str(), cfg_.socket_mode) != 0) {
      throw std::runtime_error("cannot chmod " + e.path + ": " + std::strerror(errno));
    }
    spdlog::info("event=listening endpoint={} token_required={}", q(e.to_string()),
                 e.kind == Endpoint::Kind::kTcp ? "true" : "false");
    listeners_.push_back(std::move(l));
    accept(*listeners_.back());
  }
}

void Server::accept(Listener& l) {
  l.acceptor.async_accept([this, &l](const asio::error_code& ec, asio::generic::stream_protocol::socket socket) {
    if (ec == asio::error::operation_aborted || !l.acceptor.is_open()) return;
    if (!ec) {
      const bool tcp = l.endpoint.kind == Endpoint::Kind::kTcp;
      std::string peer = l.endpoint.to_string();
      if (tcp) {
        asio::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getpeername(socket.native_handle(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
          asio::ip::tcp::endpoint remote;
          std::memcpy(remote.data(), &ss, std::min<std::size_t>(len, remote.capacity()));
          remote.resize(len);
          peer = "tcp:" + remote.address().to_string() + ":" + std::to_string(remote.port());
        }
      }
      auto session =
          std::make_shared<Session>(std::move(socket), allocate_member_id(), tcp, std::move(peer), cfg_, coordinator_);
      session->start();
    } else {
      spdlog::warn("event=accept_failed endpoint={} error={}", q(l.endpoint.to_string()), q(ec.message()));
    }
    accept(l);
  });
}

void Server::close() {
  for (auto& l : listeners_) {
    asio::error_code ignored;
    l->acceptor.close(ignored);
    if (l->endpoint.kind == Endpoint::Kind::kUnix) ::unlink(l->endpoint.path.c_str());
  }
  listeners_.clear();
}

}  // namespace intentlog
