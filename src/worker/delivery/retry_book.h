// RetryBook: failed deliveries to SQL, and due retries back
// (docs/DESIGN.md, "Retries and dead letters"; sql/functions/70_delivery.sql).
//
// A failure (nack, ack timeout, state not resolved) takes the intent and the
// intents of its key queued behind it out of memory and into SQL:
// intentlog.record_failure makes it a retry (or a dead letter) and parks the
// others. Their batches then count as resolved, so the partition's cursor
// moves on and every other key keeps streaming. The key is held: its new
// intents go through intentlog.park, in fetch order, until the SQL rows of
// the key are delivered. intentlog.due_retries hands back what is due; those
// events are in no tracked batch, and their acks go to
// intentlog.retry_delivered.
//
// Order per key: all SQL calls of a partition run one at a time, in the
// order they were issued, and a key stays held while any of its intents
// waits for park. Crash safety: nothing is resolved in the tracker before
// its SQL call committed, so a worker killed at any point redelivers from
// the committed cursor, and park() recognizes what SQL already holds.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "intentlog/v1/event.pb.h"
#include "worker/delivery/context.h"
#include "worker/delivery/partition_stream.h"

namespace intentlog {

class RetryBook {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RetryBook(DeliveryContext& ctx) : ctx_(ctx) {}

  // At lease time, before the first fetch: voids a previous owner's claims
  // and learns the keys SQL holds.
  void load_held(PartitionStream& st);
  // Fetched intents of free keys go to the scheduler at once; those of held
  // keys to intentlog.park first.
  void accept_fetched(PartitionStream& st, std::uint64_t batch, std::vector<v1::Event> events);
  // The delivery of in-flight `seq` (held by `owner`) failed: to SQL, with its key.
  void fail_event(PartitionStream& st, std::int64_t seq, std::uint64_t owner, const std::string& error);
  // A retried event was acknowledged (PartitionStream::ack).
  void retry_acked(PartitionStream& st, std::int64_t seq, const std::string& key);
  // Fails the events in flight for longer than ack_timeout.
  void check_ack_timeouts(PartitionStream& st, Clock::time_point now);
  // The stream is closing: its queued SQL still runs, in order, in one job.
  void flush(PartitionStream& st);
  // Every retry_poll: asks SQL for what is due, per (group, domain).
  void poll_all();

 private:
  void enqueue_sql(PartitionStream& st, SqlWork work);
  void run_sql(std::uint64_t id);
  void poll_due(GroupDomain& gd, Clock::time_point now);
  void due_soon(const PartitionStream& st);

  bool probe_in_flight_ = false;  // groups_with_retries running

  DeliveryContext& ctx_;
};

}  // namespace intentlog
