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
//     acknowledged batches is committed (at-least-once).
// SQL runs on the DbPool; results come back here by stream id, so a stream
// closed meanwhile is simply not found.
#pragma once

#include <asio.hpp>
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
#include "worker/partition_stream.h"
#include "worker/session.h"
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

  std::map<std::string, DomainInfo> catalog_;
  bool catalog_loading_ = false;
  std::vector<std::function<void()>> catalog_waiters_;

  std::unordered_map<std::uint64_t, Member> members_;
  std::map<GroupDomainKey, std::unique_ptr<GroupDomain>> gds_;
  std::unordered_map<std::uint64_t, PartitionStream*> streams_;  // by stream id
  std::uint64_t next_stream_id_ = 1;
  std::uint64_t next_generation_ = 1;
  Clock::time_point last_poll_;

  bool stopping_ = false;
  int pending_retires_ = 0;
  std::function<void()> on_stopped_;

  // Counters for the periodic stats line.
  std::uint64_t fetched_ = 0;
  std::uint64_t delivered_ = 0;
  std::uint64_t acked_ = 0;
  std::uint64_t nacked_ = 0;
  std::uint64_t commits_ = 0;
};

}  // namespace intentlog
