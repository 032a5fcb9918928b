// Coordinator: wires the worker's delivery parts together on the event loop
// thread (docs/DESIGN.md, "Delivery seam"):
//   Catalog     the domains and their delivery settings;
//   Leases      which partitions of a (group, domain) this worker streams;
//   Membership  sinks joining and leaving groups, partitions assigned to them;
//   PartitionStream  one leased partition: fetch, per-key order, commits;
//   Dispatcher  ready events to sinks within their capacity, acks back;
//   RetryBook   failed deliveries to SQL, due retries back;
//   StateReads  a key's state read before its event is delivered.
// It owns them and the timers that drive them, translates the socket
// sessions' frames into the seam's calls (SinkHost), and answers schema
// requests.
//
// Adding a sink at startup (a publisher): make it, then
// add_member(sink, JoinRequest{group, domains, start}); it lives until it
// calls leave() or the worker shuts down (delivery/sink.h).
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "intentlog/v1/stream.pb.h"
#include "worker/db_pool.h"
#include "worker/delivery/catalog.h"
#include "worker/delivery/context.h"
#include "worker/delivery/dispatcher.h"
#include "worker/delivery/leases.h"
#include "worker/delivery/membership.h"
#include "worker/delivery/retry_book.h"
#include "worker/delivery/sink.h"
#include "worker/delivery/state_reads.h"
#include "worker/metrics/registry.h"
#include "worker/worker_config.h"

namespace intentlog {

class Session;

class Coordinator : public SinkHost {
 public:
  using Clock = std::chrono::steady_clock;

  // The delivery series go into `registry` (served by --metrics, if given).
  // `waits`: the connections of long polls (null: wake-ups only).
  Coordinator(asio::io_context& io, const WorkerConfig& cfg, DbPool& db, metrics::Registry& registry,
              DbPool* waits = nullptr);

  void start();
  // Closes every member, commits what was acknowledged, releases the
  // leases; `done` runs once that is stored (or after a deadline).
  void shutdown(std::function<void()> done);

  // The wiring point for sinks: joins `sink` to request.group's domains.
  void add_member(std::shared_ptr<Sink> sink, JoinRequest request) {
    membership_.add_member(std::move(sink), std::move(request));
  }

  // SinkHost: what every sink calls.
  void ack(std::uint64_t member, const std::vector<v1::EventId>& events) override { dispatcher_.ack(member, events); }
  void nack(std::uint64_t member, const v1::EventId& event, const std::string& error) override {
    dispatcher_.nack(member, event, error);
  }
  void ready(std::uint64_t member) override { dispatcher_.pump(member); }
  void leave(std::uint64_t member) override { membership_.leave(member); }

  // From socket sessions.
  void on_hello(const std::shared_ptr<Session>& session, const v1::Hello& hello);
  void on_credit(std::uint64_t sid) { ready(sid); }
  void on_writable(std::uint64_t sid) { ready(sid); }
  void on_ack(std::uint64_t sid, const v1::Ack& ack);
  void on_nack(std::uint64_t sid, const v1::Nack& nack) { this->nack(sid, nack.event(), nack.error()); }
  // Answers a consumer's SchemaRequest with a Schema frame.
  void on_schema_request(const std::shared_ptr<Session>& session, const v1::SchemaRequest& req);
  void on_closed(std::uint64_t sid) { leave(sid); }

  // From the WakeupListener.
  void on_wakeup(const std::string& domain, int partition);
  void on_listener_reconnect();
  // Told true while every (group, domain) here long-polls (the listener's
  // wake-ups are then of no use), false otherwise.
  void set_listener_pause(std::function<void(bool)> pause) { pause_listener_ = std::move(pause); }

 private:
  void tick();
  void lease_tick() { membership_.lease_tick(); }
  void retry_tick() { retries_.poll_all(); }
  void arm(asio::steady_timer& timer, Clock::duration period, void (Coordinator::*fn)());
  void log_stats();
  void register_gauges(metrics::Registry& registry);

  DeliveryContext ctx_;
  std::function<void(bool)> pause_listener_;
  Catalog catalog_;
  RetryBook retries_;
  Leases leases_;
  Membership membership_;
  Dispatcher dispatcher_;
  StateReads states_;

  asio::steady_timer tick_timer_;
  asio::steady_timer lease_timer_;
  asio::steady_timer stats_timer_;
  asio::steady_timer retry_timer_;
  Clock::time_point last_poll_;
  Clock::time_point last_full_poll_;
  std::function<void()> on_stopped_;
  std::vector<v1::EventId> ack_ids_;  // reused by on_ack
};

}  // namespace intentlog
