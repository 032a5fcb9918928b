#include "worker/wakeup_listener.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <pqxx/pqxx>

#include "worker/log_fields.h"

namespace intentlog {
namespace {

constexpr int kWaitMs = 10000;      // one wait_for_intents: stop() cancels it
constexpr int kListenWaitMs = 500;  // one wait for a NOTIFY: bounds how long stop() waits for the thread

class Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, asio::io_context& io, const WakeupListener::OnWakeup& cb)
      : pqxx::notification_receiver(c, "intentlog"), io_(io), cb_(cb) {}
  void operator()(const std::string& payload, int) override {
    std::string domain;
    int partition = 0;
    if (!parse_notify_payload(payload, &domain, &partition)) return;
    asio::post(io_, [cb = cb_, domain = std::move(domain), partition] { cb(domain, partition); });
  }

 private:
  asio::io_context& io_;
  const WakeupListener::OnWakeup& cb_;
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

WakeupListener::WakeupListener(asio::io_context& io, std::string conninfo, OnWakeup on_wakeup, OnReconnect on_reconnect)
    : io_(io),
      conninfo_(std::move(conninfo)),
      on_wakeup_(std::move(on_wakeup)),
      on_reconnect_(std::move(on_reconnect)) {}

WakeupListener::~WakeupListener() { stop(); }

void WakeupListener::start() {
  thread_ = std::thread([this] { loop(); });
}

void WakeupListener::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  resumed_.notify_all();
  // The wait in progress is cancelled, again until the thread ends: a cancel
  // that reaches the server before the wait's query does nothing.
  while (thread_.joinable() && !finished_) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (waiting_on_) {
        try {
          waiting_on_->cancel_query();
        } catch (const std::exception& e) {  // the wait then ends at its timeout
          spdlog::debug("event=wakeup_cancel_failed error={}", q(e.what()));
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (thread_.joinable()) thread_.join();
}

void WakeupListener::set_paused(bool paused) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (paused_ == paused) return;
    paused_ = paused;
  }
  spdlog::debug("event=wakeup_{}", paused ? "paused" : "resumed");
  resumed_.notify_all();
}

void WakeupListener::loop() {
  struct Finished {
    std::atomic<bool>& flag;
    ~Finished() { flag = true; }
  } finished{finished_};
  bool first = true;
  while (!stopping_) {
    try {
      pqxx::connection conn(conninfo_);
      bool has_wait = false;
      {
        pqxx::nontransaction tx(conn);
        tx.exec("SET statement_timeout = 0");  // a server default shorter than a wait would end each one
        has_wait = !tx.exec("SELECT to_regprocedure('intentlog.wait_for_intents(bigint,int)')")[0][0].is_null();
      }
      spdlog::info("event=wakeup_connected mechanism={}", has_wait ? "wait_for_intents" : "listen");
      if (!first) asio::post(io_, on_reconnect_);
      first = false;
      if (has_wait) {
        wait_loop(conn);
      } else {
        listen_loop(conn);
      }
    } catch (const std::exception& e) {
      first = false;
      if (stopping_) break;  // the cancelled wait of stop()
      spdlog::warn("event=wakeup_failed error={}", q(e.what()));
      for (int i = 0; i < 10 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

void WakeupListener::wait_loop(pqxx::connection& conn) {
  conn.prepare("wait", "SELECT tick, domain, partition FROM intentlog.wait_for_intents($1, $2)");
  std::int64_t since = 0;
  while (!stopping_) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      resumed_.wait(lock, [this] { return !paused_ || stopping_; });
      if (stopping_) break;
      waiting_on_ = &conn;
    }
    struct Clear {
      WakeupListener* self;
      ~Clear() {
        std::lock_guard<std::mutex> lock(self->mu_);
        self->waiting_on_ = nullptr;
      }
    } clear{this};
    pqxx::nontransaction tx(conn);
    const pqxx::result rows = tx.exec_prepared("wait", since, kWaitMs);
    for (const auto& r : rows) {
      since = std::max(since, r[0].as<std::int64_t>());
      if (r[1].is_null() || r[2].is_null()) continue;
      asio::post(io_, [cb = on_wakeup_, domain = r[1].as<std::string>(), partition = r[2].as<int>()] {
        cb(domain, partition);
      });
    }
  }
}

void WakeupListener::listen_loop(pqxx::connection& conn) {
  Receiver receiver(conn, io_, on_wakeup_);
  conn.get_notifs();  // runs the LISTEN now, not at the first wait
  while (!stopping_) conn.await_notification(0, kListenWaitMs * 1000);
}

}  // namespace intentlog
