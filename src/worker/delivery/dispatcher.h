// Dispatcher: hands the streams' ready events to their members' sinks and
// takes the sinks' answers back (docs/DESIGN.md, "Delivery seam").
//
// pump(member) fills Batches from the streams assigned to the member, a few
// events from each in turn, while the sink has capacity: each event comes
// from its stream's KeyScheduler (one in flight per key), takes a unit of
// capacity and is remembered as sent (for the ack timeout); an event of a
// domain with a state_query goes to StateReads first and is delivered when
// its state is read. ack() resolves events in their stream (the cursor may
// then move on), nack() hands one to the RetryBook.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "intentlog/v1/event.pb.h"
#include "worker/delivery/context.h"
#include "worker/delivery/membership.h"
#include "worker/delivery/partition_stream.h"

namespace intentlog {

class RetryBook;
class StateReads;

class Dispatcher {
 public:
  Dispatcher(DeliveryContext& ctx, Membership& membership, RetryBook& retries)
      : ctx_(ctx), membership_(membership), retries_(retries) {}
  // StateReads is made after the Dispatcher (it delivers through it).
  void set_state_reads(StateReads* states) { states_ = states; }

  void pump(std::uint64_t member);
  void ack(std::uint64_t member, const std::vector<v1::EventId>& events);
  void nack(std::uint64_t member, const v1::EventId& event, const std::string& error);
  // One event whose state was read (StateReads).
  void deliver_one(PartitionStream& st, std::uint64_t member, const v1::Event& e);
  void return_capacity(std::uint64_t member);

 private:
  PartitionStream* stream_of(const Member& m, const v1::EventId& id);

  DeliveryContext& ctx_;
  Membership& membership_;
  RetryBook& retries_;
  StateReads* states_ = nullptr;
};

}  // namespace intentlog
