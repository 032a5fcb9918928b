// PartitionStream: one (consumer group, domain, partition) this worker holds
// the lease of. It reads the partition through the snapshot cursor into a
// bounded buffer (a fetch only while fewer than buffer_events intents and
// buffer_bytes are held, sized by the average event), keeps the fetched
// intents per key (KeyScheduler: one in flight per key, in seq order), and
// tracks which fetched batches are fully acknowledged, committing the cursor
// after them every commit_interval (CommitTracker: at-least-once).
//
// It does not know who consumes it: `assigned` is a member id, the
// Dispatcher hands its ready events to that member's Sink, and acks come
// back through ack(). Held keys, parking and retries are the RetryBook's
// (the fields under "Failed deliveries" are its state).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "worker/delivery/commit_tracker.h"
#include "worker/delivery/key_scheduler.h"
#include "worker/metrics/delivery_metrics.h"
#include "worker/store.h"

namespace intentlog {

class Store;
class PartitionStream;
class RetryBook;
struct DeliveryContext;
struct GroupDomain;
// A delivery SQL call of a partition: the work runs on a DbPool thread and
// returns what to do with the stream on the event loop.
using SqlStep = std::function<void(PartitionStream&)>;
using SqlWork = std::function<SqlStep(Store&)>;

class PartitionStream {
 public:
  using Clock = std::chrono::steady_clock;

  PartitionStream(DeliveryContext& ctx, RetryBook& retries, std::uint64_t id_, std::string group_, std::string domain_,
                  int partition_);
  PartitionStream(const PartitionStream&) = delete;
  PartitionStream& operator=(const PartitionStream&) = delete;

  // START_LATEST: reads (and stores) the partition's latest cursor first.
  void maybe_start();
  // Fetches if rows may be waiting, a member is assigned and the buffer has room
  // (with the other partitions of its group-domain that have rows waiting).
  void maybe_fetch();
  // Every commit_interval: ack timeouts, a pending start, the cursor commit,
  // a fetch (`poll`: also when no wake-up came). The Coordinator's ticks
  // visit every stream only every `poll`; the others, the streams in
  // DeliveryContext::ticking: those not quiet at their last tick, and those
  // that fetched, failed to, or had an ack since (keep_ticking).
  void on_tick(Clock::time_point now, bool poll, bool poll_all);
  // Nothing for a tick to do until a wake-up, a fetch or an ack: started,
  // no fetch, SQL call, commit or cursor to store pending, nothing held in
  // memory or in flight, not long polling.
  bool quiet() const;
  // Into DeliveryContext::ticking, once.
  void keep_ticking();
  bool ticking = false;  // in DeliveryContext::ticking
  // An ack from `member` of in-flight event `seq`: true if it held it.
  // `now_s`: the wall clock (seconds since the epoch) for the ack latency,
  // read once per Ack rather than once per event.
  bool ack(std::int64_t seq, std::uint64_t member, double now_s);
  // Closing (lease gone, group retired): the cursor after what was acknowledged, if not stored yet.
  std::optional<std::string> final_cursor();

  // Fetched intents held in memory: waiting for their key, or in flight.
  std::size_t held() const { return scheduler.waiting() + scheduler.in_flight(); }

  const std::uint64_t id;  // unique in this process; DB job results find their stream by it
  const std::string group;
  const std::string domain;
  const int partition;
  // The (group, domain) that holds it (it owns its streams; null only in
  // tests): looked at on every maybe_fetch, so not found by name.
  GroupDomain* owner = nullptr;

  KeyScheduler scheduler;
  CommitTracker tracker;
  const metrics::StreamMetrics& metrics;  // looked up once (delivery_metrics.h)

  // Read position: the next fetch's from_cursor. Nothing means "the group's
  // committed cursor" (intentlog.fetch with from_cursor NULL).
  std::optional<std::string> fetch_cursor;
  bool started = false;   // start position resolved (START_LATEST needs a query)
  bool starting = false;  // that query is running
  bool fetching = false;
  std::size_t avg_event_bytes = 512;  // running estimate, sizes fetches to the byte bound
  bool dirty = true;                  // rows may be waiting: a wake-up, a poll, or the last fetch was full
  // Long poll: the wake-up tick fetch_cursor is current to, from the last
  // fetch_wait (-1: none yet, fetch at once). A cursor moves only forward, so
  // an older tick stays a valid lower bound (one ahead of the server's tick,
  // after a restart, makes the ask due).
  std::int64_t wait_tick = -1;
  Clock::time_point active_at{};  // the last wake-up or fetch that returned rows
  Clock::time_point retry_at{};   // after a failed fetch or start
  Clock::time_point fetch_warned_at{};

  bool committing = false;
  std::int64_t committed_seq = -1;       // watermark of the last cursor this worker stored (-1: none yet)
  std::optional<std::string> to_commit;  // committable cursor not yet stored
  Clock::time_point commit_warned_at{};

  std::uint64_t assigned = 0;  // member id of the sink that gets new events; 0 = none

  // Failed deliveries (the RetryBook's): retries and parked intents live in SQL
  // (sql/src/70_delivery.sql). `sql_held` mirrors the keys held there, so that
  // new intents of those keys go through intentlog.park instead of out;
  // every other key never waits for SQL.
  bool held_loaded = false;  // intentlog.held_keys read at lease time: fetching may start
  bool held_loading = false;
  std::unordered_set<std::string> sql_held;
  std::unordered_map<std::string, int> parking;  // key -> fetched intents waiting for intentlog.park
  std::unordered_set<std::int64_t> retried;      // from intentlog.due_retries; not in the tracker
  // In flight to a member since when (ack timeout): seq -> (member, time).
  std::unordered_map<std::int64_t, std::pair<std::uint64_t, Clock::time_point>> sent;
  std::unordered_map<std::int64_t, std::uint64_t> resolving;  // seq -> member: state being read before the send
  // The partition's delivery SQL runs one call at a time, in order: a park
  // after the failure that held its key, a retry_delivered after the parks
  // queued before it.
  std::deque<SqlWork> sql_ops;
  bool sql_busy = false;

  // Progressive consistency reads: the domain's state_query (empty: none).
  std::string state_query;
  std::chrono::milliseconds consistency_timeout{5000};

  // What a fetch of up to `rows` rows, asked at `asked`, brought or why it
  // failed (a batched fetch delivers each partition's part here).
  void on_fetched(FetchResult r, int rows, Clock::time_point asked);
  void on_fetch_failed(const std::string& error);
  // Into the next long poll of its domain: false if it cannot fetch now
  // (else `ask` is filled and the stream is fetching).
  bool join_wait(FetchAsk* ask);
  // A fetch of this partition in a statement of its own (a batched fetch
  // failed: a partition that fails alone must not hold back the others).
  void fetch_alone(int rows);

 private:
  void start_commit();
  // Rows the buffer has room for now (0: none, or not worth a fetch).
  int fetch_room() const;

  DeliveryContext& ctx_;
  RetryBook& retries_;
};

}  // namespace intentlog
