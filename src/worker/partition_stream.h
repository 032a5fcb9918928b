// PartitionStream: what the worker keeps for one (consumer group, domain,
// partition) it holds the lease of: the read position, the fetched intents
// waiting for their keys (KeyScheduler), the batches waiting for acks before
// their cursor can be committed (CommitTracker), and which consumer of the
// group it is assigned to. Plain state; the Coordinator drives it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "worker/commit_tracker.h"
#include "worker/key_scheduler.h"

namespace intentlog {

struct PartitionStream {
  using Clock = std::chrono::steady_clock;

  PartitionStream(std::uint64_t id_, std::string group_, std::string domain_, int partition_, std::size_t max_in_flight)
      : id(id_),
        group(std::move(group_)),
        domain(std::move(domain_)),
        partition(partition_),
        scheduler(max_in_flight) {}

  // Fetched intents held in memory: waiting for their key, or in flight.
  std::size_t held() const { return scheduler.waiting() + scheduler.in_flight(); }

  const std::uint64_t id;  // unique in this process; DB job results find their stream by it
  const std::string group;
  const std::string domain;
  const int partition;

  KeyScheduler scheduler;
  CommitTracker tracker;

  // Read position: the next fetch's from_cursor. Nothing means "the group's
  // committed cursor" (intentlog.fetch with from_cursor NULL).
  std::optional<std::string> fetch_cursor;
  bool started = false;   // start position resolved (START_LATEST needs a query)
  bool starting = false;  // that query is running
  bool fetching = false;
  std::size_t avg_event_bytes = 512;  // running estimate, sizes fetches to the byte bound
  bool dirty = true;                  // rows may be waiting: a wake-up, a poll, or the last fetch was full
  Clock::time_point retry_at{};       // after a failed fetch or start
  Clock::time_point fetch_warned_at{};

  bool committing = false;
  std::optional<std::string> to_commit;  // committable cursor not yet stored
  Clock::time_point commit_warned_at{};

  std::uint64_t assigned = 0;  // session id of the consumer that gets new events; 0 = none
};

}  // namespace intentlog
