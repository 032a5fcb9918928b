#include "worker/notify_listener.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <pqxx/pqxx>

#include "worker/log_fields.h"

namespace intentlog {
namespace {

class Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, asio::io_context& io, const NotifyListener::OnNotify& cb)
      : pqxx::notification_receiver(c, "intentlog"), io_(io), cb_(cb) {}
  void operator()(const std::string& payload, int) override {
    std::string domain;
    int partition = 0;
    if (!parse_notify_payload(payload, &domain, &partition)) return;
    asio::post(io_, [cb = cb_, domain = std::move(domain), partition] { cb(domain, partition); });
  }

 private:
  asio::io_context& io_;
  const NotifyListener::OnNotify& cb_;
};

}  // namespace

bool parse_notify_payload(const std::string& payload, std::string* domain, int* partition) {
  const auto colon = payload.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  const char* b = payload.data() + colon + 1;
  const char* e = payload.data() + payload.size();
  const auto [end, ec] = std::from_chars(b, e, *partition);
  if (ec != std::errc() || end != e || *partition < 0) return false;
  *domain = payload.substr(0, colon);
  return true;
}

NotifyListener::NotifyListener(asio::io_context& io, std::string conninfo, OnNotify on_notify, OnReconnect on_reconnect)
    : io_(io),
      conninfo_(std::move(conninfo)),
      on_notify_(std::move(on_notify)),
      on_reconnect_(std::move(on_reconnect)) {}

NotifyListener::~NotifyListener() { stop(); }

void NotifyListener::start() {
  thread_ = std::thread([this] { loop(); });
}

void NotifyListener::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void NotifyListener::loop() {
  bool first = true;
  while (!stopping_) {
    try {
      pqxx::connection conn(conninfo_);
      Receiver receiver(conn, io_, on_notify_);
      conn.get_notifs();  // runs the LISTEN now, not at the first wait
      if (!first) {
        spdlog::info("event=listen_reconnected");
        asio::post(io_, on_reconnect_);
      }
      first = false;
      // Short waits so that stop() is noticed quickly.
      while (!stopping_) conn.await_notification(0, 200000);
    } catch (const std::exception& e) {
      first = false;
      spdlog::warn("event=listen_failed error={}", q(e.what()));
      for (int i = 0; i < 10 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace intentlog
