#include "worker/metrics/http_listener.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "worker/log_fields.h"

namespace intentlog::metrics {
namespace {

constexpr std::size_t kMaxRequestBytes = 8192;
constexpr auto kRequestTimeout = std::chrono::seconds(5);

std::string reply(const char* status, const char* content_type, const std::string& body) {
  std::string out = std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + content_type +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  out += body;
  return out;
}

// One connection: read the request head, answer, close.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(asio::ip::tcp::socket socket, Registry& registry)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), registry_(registry) {}

  void start() {
    auto self = shared_from_this();
    timer_.expires_after(kRequestTimeout);
    timer_.async_wait([self](const asio::error_code& ec) {
      if (!ec) self->socket_.close();
    });
    read();
  }

 private:
  void read() {
    auto self = shared_from_this();
    asio::async_read_until(socket_, asio::dynamic_buffer(head_, kMaxRequestBytes), "\r\n\r\n",
                           [self](const asio::error_code& ec, std::size_t) {
                             if (ec) {
                               self->timer_.cancel();
                               return;
                             }
                             self->out_ = http_response(self->head_, self->registry_);
                             asio::async_write(self->socket_, asio::buffer(self->out_),
                                               [self](const asio::error_code&, std::size_t) {
                                                 asio::error_code ignored;
                                                 self->socket_.shutdown(asio::socket_base::shutdown_both, ignored);
                                                 self->socket_.close(ignored);
                                                 self->timer_.cancel();
                                               });
                           });
  }

  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  Registry& registry_;
  std::string head_;
  std::string out_;
};

}  // namespace

std::string http_response(const std::string& request_head, Registry& registry) {
  const auto line_end = request_head.find("\r\n");
  const std::string line = request_head.substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || line.compare(sp2 + 1, 5, "HTTP/") != 0)
    return reply("400 Bad Request", "text/plain", "bad request\n");
  const std::string method = line.substr(0, sp1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  if (target != "/metrics") return reply("404 Not Found", "text/plain", "try /metrics\n");
  if (method != "GET" && method != "HEAD") return reply("405 Method Not Allowed", "text/plain", "GET only\n");
  std::string out = reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", registry.render());
  if (method == "HEAD") out.erase(out.find("\r\n\r\n") + 4);
  return out;
}

HttpListener::HttpListener(asio::io_context& io, const Endpoint& endpoint, Registry& registry)
    : io_(io), endpoint_(endpoint), registry_(registry), acceptor_(io) {}

void HttpListener::open() {
  if (endpoint_.kind != Endpoint::Kind::kTcp) throw std::runtime_error("--metrics needs tcp:HOST:PORT");
  asio::ip::tcp::resolver resolver(io_);
  asio::error_code ec;
  auto results = resolver.resolve(endpoint_.host, std::to_string(endpoint_.port), ec);
  if (ec || results.empty()) throw std::runtime_error("cannot resolve " + endpoint_.host + ": " + ec.message());
  const auto ep = results.begin()->endpoint();
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen for metrics on " + endpoint_.to_string() + ": " + ec.message());
  spdlog::info("event=metrics_listening endpoint={}", q(endpoint_.to_string()));
  accept();
}

void HttpListener::close() {
  asio::error_code ignored;
  acceptor_.close(ignored);
}

unsigned short HttpListener::port() const {
  asio::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

void HttpListener::accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) std::make_shared<Exchange>(std::move(socket), registry_)->start();
    accept();
  });
}

}  // namespace intentlog::metrics
