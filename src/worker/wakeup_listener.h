// WakeupListener: learns, within milliseconds of a commit, which partitions
// received intents, and hands each (domain, partition) to the event loop.
//
// It runs in a thread of its own on a connection of its own and uses
// intentlog.wait_for_intents(since, timeout) — a long poll on the extension's
// commit tick, cheaper for appenders than NOTIFY — when the installed
// extension has it, and LISTEN intentlog ("<domain>:<partition>" payloads)
// otherwise. The worker's short poll covers wake-ups lost while this
// connection was down, and on_reconnect lets it catch up at once.
//
// While every (group, domain) with streams here long-polls (it waits for its
// own commits in intentlog.fetch_wait), the worker pauses it: its wake-ups
// would only cost a backend, a thread and an event-loop turn per commit.
// Resumed, its first wait reports every partition stamped while paused.
//
// A wait lasts up to 10 s: every end of one wakes a backend and this thread,
// and a PostgreSQL backend woken after sleeping half a second costs about
// 2 ms of CPU on the 2-core VMs measured here (bench/RESULTS.md). stop()
// cancels the wait in progress instead of waiting it out.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
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
  // Thread-safe. Paused: no wait_for_intents call until resumed.
  void set_paused(bool paused);

 private:
  void loop();
  void wait_loop(pqxx::connection& conn);
  void listen_loop(pqxx::connection& conn);

  asio::io_context& io_;
  std::string conninfo_;
  OnWakeup on_wakeup_;
  OnReconnect on_reconnect_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> finished_{false};  // loop() returned
  std::mutex mu_;
  std::condition_variable resumed_;
  bool paused_ = false;
  pqxx::connection* waiting_on_ = nullptr;  // the connection of the wait in progress, under mu_
  std::thread thread_;
};

// Splits a NOTIFY payload "<domain>:<partition>"; false if it is not one.
bool parse_notify_payload(const std::string& payload, std::string* domain, int* partition);

}  // namespace intentlog
