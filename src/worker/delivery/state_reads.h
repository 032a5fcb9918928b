// StateReads: progressive consistency reads (docs/DESIGN.md, "Smart
// consumer"; worker/state_resolver.h for the decisions).
//
// For a domain with a state_query, an event handed out by the scheduler is
// not delivered at once: its key's state is read first (standby, then
// primary), and read again with back-off while even the primary is older
// than the intent's expected_version. The event stays in flight for its
// member meanwhile, so its key's order holds, and it holds a unit of the
// sink's capacity. Resolved: delivered with the state. consistency_timeout
// passed, or the query failed: a failed delivery (RetryBook, like a nack),
// and the capacity unit is given back.
//
// The standby is optional to correctness: when it cannot be connected to,
// StandbyBackoff marks it down and the reads go to the primary (state source
// primary) until a probe after the back-off reaches it again; standby_down
// and standby_up are logged once per outage.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "intentlog/v1/event.pb.h"
#include "worker/delivery/context.h"
#include "worker/delivery/partition_stream.h"
#include "worker/state_resolver.h"

namespace intentlog {

class RetryBook;

class StateReads {
 public:
  using Clock = std::chrono::steady_clock;
  // Delivers a resolved event to `member` (the Dispatcher).
  using Deliver = std::function<void(PartitionStream&, std::uint64_t member, const v1::Event&)>;
  // Gives back the capacity unit of an event that will not be delivered.
  using Refund = std::function<void(std::uint64_t member)>;

  StateReads(DeliveryContext& ctx, RetryBook& retries, Deliver deliver, Refund refund);

  // Reads the state of in-flight `seq` (held by `member`) until `deadline`;
  // `reads` made so far.
  void resolve(PartitionStream& st, std::uint64_t member, std::int64_t seq, Clock::time_point deadline,
               std::uint32_t reads);

 private:
  void note_standby(const StandbyBackoff::Ticket& ticket, const Resolution& r);
  void count_reads(const std::string& domain, const Resolution& r);
  void retry_later(std::uint64_t id, std::uint64_t member, std::int64_t seq, Clock::time_point deadline,
                   std::uint32_t reads, Clock::duration delay);

  DeliveryContext& ctx_;
  RetryBook& retries_;
  Deliver deliver_;
  Refund refund_;
  // The standby of --replica: its conninfo with a bounded connect, whether
  // it is up, and the pool threads' early word that it broke.
  const std::string standby_conninfo_;
  StandbyBackoff standby_;
  std::shared_ptr<std::atomic<std::uint64_t>> standby_broken_ = std::make_shared<std::atomic<std::uint64_t>>(0);
};

}  // namespace intentlog
