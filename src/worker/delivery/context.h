// DeliveryContext: what the delivery parts share, owned by the Coordinator:
// the event loop, the configuration, the SQL pool, the counters of the stats
// line, and the two indexes through which SQL results find their target
// again (a stream by id, a group's domain by name), so that one closed
// meanwhile is simply not found. Everything here is touched on the event
// loop thread only.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "intentlog/v1/stream.pb.h"
#include "worker/db_pool.h"
#include "worker/metrics/delivery_metrics.h"
#include "worker/worker_config.h"

namespace intentlog {

class PartitionStream;

struct DeliveryStats {
  std::uint64_t fetched = 0;
  std::uint64_t delivered = 0;
  std::uint64_t acked = 0;
  std::uint64_t nacked = 0;
  std::uint64_t commits = 0;
  std::uint64_t retries = 0;       // failures handed to SQL as retries
  std::uint64_t dead_letters = 0;  // failures that made dead letters
  std::uint64_t parked = 0;        // fetched intents parked behind their key
  std::uint64_t redelivered = 0;   // events from intentlog.due_retries
  std::uint64_t state_reads = 0;   // consistency reads made
  std::uint64_t long_polls = 0;    // intentlog.fetch_wait calls returned
};

using GroupDomainKey = std::pair<std::string, std::string>;  // (group, domain)

// One consumer group reading one domain on this worker: its members here,
// the partitions it holds the lease of (one PartitionStream each), and the
// state of its lease, gap and due-retry calls.
// A partition's fetch waiting for its group-domain's fetch statement.
struct WaitingFetch {
  std::uint64_t stream = 0;  // PartitionStream id
  FetchAsk ask;
  std::chrono::steady_clock::time_point asked;
  bool caught_up = false;  // the stream held no events when it asked
};

struct GroupDomain {
  using Clock = std::chrono::steady_clock;

  std::string group;
  std::string domain;
  std::uint64_t generation = 0;        // SQL results of an older (group, domain) are ignored
  std::vector<std::uint64_t> members;  // member ids, ascending
  std::map<int, std::unique_ptr<PartitionStream>> streams;
  v1::Start start = v1::START_COMMITTED;  // of the member that opened it
  std::map<int, std::int64_t> positions;  // START_POSITION: partition -> after_seq
  bool first_leases = true;               // start applies to the first leases only
  bool lease_in_flight = false;
  Clock::time_point lease_ok_at;
  bool gaps_in_flight = false;
  bool due_in_flight = false;     // intentlog.due_retries running
  Clock::time_point due_poll_at;  // next due_retries call
  // Its partitions are fetched by one statement at a time
  // (Store::fetch_partitions); fetches asked while it runs wait here and go
  // out together when it returns, so the busier the domain, the more
  // partitions each statement serves. Fetches of caught-up streams only (a
  // wake-up of a quiet domain) do not wait: they go out at once on another
  // pool connection, up to one statement per connection.
  std::vector<WaitingFetch> fetches_waiting;
  int fetches_in_flight = 0;
  // Long poll (intentlog.fetch_wait): while the domain is active and holds
  // one of the wait connections, every fetch of its streams goes through one
  // fetch_wait at a time there, which waits for the partitions' own commits
  // in the fetching backend: the wake-up and the fetch in one statement,
  // without the listener's hops. Back to wake-ups after kWaitIdle without
  // rows (partition_stream.cpp).
  bool long_polling = false;  // holds a wait connection
  bool wait_in_flight = false;
  Clock::time_point wait_rows_at;  // the last long poll that returned rows

  ~GroupDomain();
};

struct DeliveryContext {
  DeliveryContext(asio::io_context& io_, const WorkerConfig& cfg_, DbPool& db_, DbPool* waits_,
                  metrics::Registry& registry)
      : io(io_), cfg(cfg_), db(db_), waits(waits_), free_waits(waits_ ? cfg_.wait_connections : 0), metrics(registry) {}

  PartitionStream* find_stream(std::uint64_t id) const {
    auto it = streams.find(id);
    return it == streams.end() ? nullptr : it->second;
  }
  GroupDomain* find_group(const std::string& group, const std::string& domain) const {
    auto it = groups.find(GroupDomainKey{group, domain});
    return it == groups.end() ? nullptr : it->second.get();
  }

  asio::io_context& io;
  const WorkerConfig& cfg;
  DbPool& db;
  DbPool* waits;           // the long polls' connections (GroupDomain::long_polling); null: none
  int free_waits;          // of them, not held by a GroupDomain
  bool fetch_wait = true;  // false once the install showed it has no fetch_wait or no shared wake-ups
  bool stopping = false;   // shutting down: no new work
  DeliveryStats stats;
  metrics::DeliveryMetrics metrics;  // the series of --metrics (counted whether served or not)

  std::map<GroupDomainKey, std::unique_ptr<GroupDomain>> groups;  // owned; the Membership adds and removes
  std::unordered_map<std::uint64_t, PartitionStream*> streams;    // every open stream, by id
  // Streams that the ticks between two polls visit (PartitionStream::on_tick).
  std::vector<std::uint64_t> ticking;
  // "Events for this member may be ready": the Dispatcher's pump (wired by
  // the Coordinator; member 0 = none, ignored).
  std::function<void(std::uint64_t member)> wake;
  // A (group, domain) came, went, or started or stopped long-polling (the
  // Coordinator pauses the wake-up listener while all of them long-poll).
  std::function<void()> long_polls_changed;
};

}  // namespace intentlog
