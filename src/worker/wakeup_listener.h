// NotifyListener: LISTEN intentlog on a connection of its own, in a thread of
// its own, and hand each "<domain>:<partition>" payload to the event loop.
// Wakes the right partitions within milliseconds of a commit; the worker's
// short poll covers notifications lost while this connection was down (and
// on_reconnect lets it catch up at once).
#pragma once

#include <asio.hpp>
#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace intentlog {

class NotifyListener {
 public:
  using OnNotify = std::function<void(const std::string& domain, int partition)>;
  using OnReconnect = std::function<void()>;

  NotifyListener(asio::io_context& io, std::string conninfo, OnNotify on_notify, OnReconnect on_reconnect);
  ~NotifyListener();
  void start();
  void stop();

 private:
  void loop();

  asio::io_context& io_;
  std::string conninfo_;
  OnNotify on_notify_;
  OnReconnect on_reconnect_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Splits "<domain>:<partition>"; false if the payload is not of that form.
bool parse_notify_payload(const std::string& payload, std::string* domain, int* partition);

}  // namespace intentlog
