// Coordinator: the worker's delivery logic, run on the event loop thread.
//
// It maps consumer groups to partitions and partitions to consumers:
//   - for every (group, domain) with a consumer connected here, it holds
//     leases (intentlog.lease_acquire) on an even share of the partitions,
//     renewed every third of the lease time;
//   - each leased partition is a PartitionStream, assigned round-robin to the
//     group's consumers that asked for the domain;
//   - it fetches into a stream only while the stream holds fewer than
//     buffer_events intents, and sends only against consumer credit, so a
//     backlog of any size costs bounded memory;
//   - acks resolve intents; every commit_interval the cursor after the fully
//     acknowledged batches is committed (at-least-once);
//   - a nack, an ack timeout or state that cannot be resolved hands the
//     intent (and the intents of its key held behind it) to SQL as a retry,
//     so the cursor moves on; retries come back from SQL when due
//     (coordinator_retries.cpp);
//   - domains with a state_query get the key's state attached before an
//     event is sent: standby, then primary, then back-off; a standby that
//     cannot be connected to is skipped for a growing back-off
//     (coordinator_state.cpp).
// SQL runs on the DbPool; results come back here by stream id, so a stream
// closed meanwhile is simply not found.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "intentlog/v1/stream.pb.h"
#include "worker/db_pool.h"
#include "worker/delivery_store.h"
#include "worker/partition_stream.h"
#include "worker/session.h"
#include "worker/state_resolver.h"
#include "worker/worker_config.h"

namespace intentlog {

class Coordinator {
 public:
  using Clock = std::chrono::steady_clock;

  Coordinator(asio::io_context& io, const WorkerConfig& cfg, DbPool& db);

  void start();
  // Closes every connection, commits what was acknowledged, releases the
  // leases; `done` runs once that is stored (or after a deadline).
  void shutdown(std::function<void()> done);

  // From sessions.
  void on_hello(const std::shared_ptr<Session>& session, const v1::Hello& hello);
  void on_credit(std::uint64_t sid) { pump(sid); }
  void on_writable(std::uint64_t sid) { pump(sid); }
  void on_ack(std::uint64_t sid, const v1::Ack& ack);
  void on_nack(std::uint64_t sid, const v1::Nack& nack);
  // Answers a consumer's SchemaRequest with a Schema frame.
  void on_schema_request(const std::shared_ptr<Session>& session, const v1::SchemaRequest& req);
  void on_closed(std::uint64_t sid);

  // From the WakeupListener.
  void on_wakeup(const std::string& domain, int partition);
  void on_listener_reconnect();

 private:
  using GroupDomainKey = std::pair<std::string, std::string>;  // (group, domain)

  struct DomainInfo {
    int partitions = 0;
    std::string durability;
    DeliverySettings delivery;
  };

  struct GroupDomain {
    std::string group;
    std::string domain;
    std::uint64_t generation = 0;
    std::vector<std::uint64_t> members;  // session ids, ascending
    std::map<int, std::unique_ptr<PartitionStream>> streams;
    v1::Start start = v1::START_COMMITTED;  // of the consumer that opened it
    std::map<int, std::int64_t> positions;  // START_POSITION: partition -> after_seq
    bool first_leases = true;               // start applies to the first leases only
    bool lease_in_flight = false;
    bool gaps_in_flight = false;
    Clock::time_point lease_ok_at;
    bool due_in_flight = false;     // intentlog.due_retries running
    Clock::time_point due_poll_at;  // next due_retries call
  };

  struct Member {
    std::shared_ptr<Session> session;
    std::string group;
    std::vector<std::string> domains;
    v1::Hello hello;
    bool joined = false;
    std::vector<PartitionStream*> streams;             // assigned to it, for pump()
    std::size_t rr = 0;                                // round-robin start over streams
    std::set<std::pair<std::string, int>> assignment;  // last Assignment frame sent
  };

  void refresh_catalog(std::function<void()> then);
  void finish_hello(std::uint64_t sid);
  GroupDomain& join_group_domain(Member& m, const std::string& domain);
  void retire(GroupDomainKey key);
  void reassign(GroupDomain& gd);
  void rebuild_member(std::uint64_t sid);

  void acquire_leases(GroupDomain& gd);
  void on_leases(const GroupDomainKey& key, std::uint64_t generation, const std::vector<int>& partitions);
  void open_stream(GroupDomain& gd, int partition);
  void close_stream(std::unique_ptr<PartitionStream> st);
  void check_gaps(GroupDomain& gd);

  void maybe_start(PartitionStream& st);
  void maybe_fetch(PartitionStream& st);
  void start_commit(PartitionStream& st);
  void pump(std::uint64_t sid);

  // Failed deliveries and SQL retries (coordinator_retries.cpp).
  void enqueue_sql(PartitionStream& st, SqlWork work);
  void run_sql(std::uint64_t id);
  void flush_sql(PartitionStream& st);
  void load_held(PartitionStream& st);
  void accept_fetched(PartitionStream& st, std::uint64_t batch, std::vector<v1::Event> events);
  void fail_event(PartitionStream& st, std::int64_t seq, std::uint64_t owner, const std::string& error);
  void retry_acked(PartitionStream& st, std::int64_t seq, const std::string& key);
  void poll_due(GroupDomain& gd, Clock::time_point now);
  void check_ack_timeouts(PartitionStream& st, Clock::time_point now);
  void due_soon(const PartitionStream& st);
  void retry_tick();

  // Progressive consistency reads (coordinator_state.cpp).
  void resolve_state(PartitionStream& st, std::uint64_t sid, std::int64_t seq, Clock::time_point deadline,
                     std::uint32_t reads);
  void note_standby(const StandbyBackoff::Ticket& ticket, const Resolution& r);
  void send_event(PartitionStream& st, std::uint64_t sid, const v1::Event& e);
  void refund_credit(std::uint64_t sid);

  void tick();
  void lease_tick();
  void arm(asio::steady_timer& timer, Clock::duration period, void (Coordinator::*fn)());
  PartitionStream* find_stream(std::uint64_t id);
  GroupDomain* find_gd(const std::string& group, const std::string& domain);
  void retire_done();
  void log_stats();

  asio::io_context& io_;
  const WorkerConfig& cfg_;
  DbPool& db_;
  asio::steady_timer tick_timer_;
  asio::steady_timer lease_timer_;
  asio::steady_timer stats_timer_;
  asio::steady_timer retry_timer_;

  std::map<std::string, DomainInfo> catalog_;
  bool catalog_loading_ = false;
  std::vector<std::function<void()>> catalog_waiters_;

  std::unordered_map<std::uint64_t, Member> members_;
  std::map<GroupDomainKey, std::unique_ptr<GroupDomain>> gds_;
  std::unordered_map<std::uint64_t, PartitionStream*> streams_;  // by stream id
  std::uint64_t next_stream_id_ = 1;
  std::uint64_t next_generation_ = 1;
  Clock::time_point last_poll_;

  // The standby of --replica: its conninfo with a bounded connect, whether
  // it is up, and the pool threads' early word that it broke
  // (coordinator_state.cpp).
  const std::string standby_conninfo_;
  StandbyBackoff standby_;
  std::shared_ptr<std::atomic<std::uint64_t>> standby_broken_ = std::make_shared<std::atomic<std::uint64_t>>(0);

  bool stopping_ = false;
  int pending_retires_ = 0;
  std::function<void()> on_stopped_;

  // Counters for the periodic stats line.
  std::uint64_t fetched_ = 0;
  std::uint64_t delivered_ = 0;
  std::uint64_t acked_ = 0;
  std::uint64_t nacked_ = 0;
  std::uint64_t commits_ = 0;
  std::uint64_t retries_ = 0;       // failures handed to SQL as retries
  std::uint64_t dead_letters_ = 0;  // failures that made dead letters
  std::uint64_t parked_ = 0;        // fetched intents parked behind their key
  std::uint64_t redelivered_ = 0;   // events from intentlog.due_retries
  std::uint64_t state_reads_ = 0;   // consistency reads made
};

}  // namespace intentlog
