// WakeupListener: learns, within milliseconds of a commit, which partitions
// received intents, and hands each (domain, partition) to the event loop.
//
// It runs in a thread of its own on a connection of its own and uses
// intentlog.wait_for_intents(since, timeout) — a long poll on the extension's
// commit tick, cheaper for appenders than NOTIFY — when the installed
// extension has it, and LISTEN intentlog ("<domain>:<partition>" payloads)
// otherwise. The worker's short poll covers wake-ups lost while this
// connection was down, and on_reconnect lets it catch up at once.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <functional>
#include <pqxx/connection>
#include <string>
#include <thread>

namespace intentlog {

class WakeupListener {
 public:
  using OnWakeup = std::function<void(const std::string& domain, int partition)>;
  using OnReconnect = std::function<void()>;

  WakeupListener(asio::io_context& io, std::string conninfo, OnWakeup on_wakeup, OnReconnect on_reconnect);
  ~WakeupListener();
  void start();
  void stop();

 private:
  void loop();
  void wait_loop(pqxx::connection& conn);
  void listen_loop(pqxx::connection& conn);

  asio::io_context& io_;
  std::string conninfo_;
  OnWakeup on_wakeup_;
  OnReconnect on_reconnect_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Splits a NOTIFY payload "<domain>:<partition>"; false if it is not one.
bool parse_notify_payload(const std::string& payload, std::string* domain, int* partition);

}  // namespace intentlog
