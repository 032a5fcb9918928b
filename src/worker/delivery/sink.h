// Sink: where a partition stream's ready events go, and where their acks and
// nacks come back from (docs/DESIGN.md, "Delivery seam").
//
// A sink is a member of a consumer group, exactly as a socket consumer is
// after its Hello: it joins (group, domains, start) through
// Coordinator::add_member (net/session_sink.h is how a socket Session does
// it), is told which partitions it was assigned (Assignment), is handed at
// most capacity() events at a time (Batch), learns of lost staged intents
// (Gap), and answers every event it was handed with ack() or nack() on its
// SinkHost, in any order and whenever it likes. Leases and takeover between
// workers, the per-key order, retries, dead letters and cursor commits are
// the worker's and work the same for every sink: the streams never know
// which sink they feed.
//
// Threading: every call in either direction happens on the worker's
// io_context thread. A sink whose work completes elsewhere (a producer's
// delivery-report thread) posts its ack/nack to that io_context.
//
// Lifetime: the Membership holds a shared_ptr to the sink from add_member
// until the sink leaves (SinkHost::leave) or is closed (Sink::close). After
// that nothing is called on it, and acks it still sends are ignored (its
// unacknowledged events were already handed to other members).
//
// What an ack means: the event was processed (published, stored) and must
// not be delivered again to this group. Once every event up to a fetched
// batch's end is acked or nacked, the partition's cursor is committed past
// them (every commit_interval): a worker crash before that redelivers them,
// so delivery is at-least-once and a sink must tolerate seeing an EventId
// twice. A nack (or no answer within ack_timeout) is a failed delivery: the
// event goes to SQL as a retry (intentlog.record_failure), the later events
// of its key are parked behind it, other keys keep streaming, and the cursor
// moves on; the retry comes back in a later Batch with attempt > 1, and after
// max_attempts it becomes a dead letter.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "intentlog/v1/event.pb.h"
#include "intentlog/v1/stream.pb.h"

namespace intentlog {

// What a sink joins with (a socket consumer's Hello, without the transport).
struct JoinRequest {
  std::string group;                 // [A-Za-z0-9_.:-]{1,128} (common/validation)
  std::vector<std::string> domains;  // 1..256, distinct
  v1::Start start = v1::START_COMMITTED;
  std::vector<v1::Position> positions;  // with START_POSITION: partition -> after_seq
};

class Sink {
 public:
  virtual ~Sink() = default;

  // The member id: unique among every member of this worker process, from
  // allocate_member_id(). Acks name it; logs print it as session=.
  virtual std::uint64_t id() const = 0;

  // How many more events may be handed to the sink now (a socket's credit,
  // or 0 while its send queue is full; a publisher's free in-flight slots).
  // When it grows again from 0 the sink calls SinkHost::ready().
  virtual std::uint32_t capacity() const = 0;
  // The dispatcher takes one unit of capacity for every event it hands out,
  // before the event is delivered (an event whose state is still being read
  // holds its unit), and gives it back for an event never delivered.
  virtual void take_capacity(std::uint32_t n) = 0;
  virtual void return_capacity(std::uint32_t n) = 0;

  // The join succeeded: the worker and the domains (partitions, durability).
  virtual void joined(const v1::Welcome& welcome) = 0;
  // The partitions this member receives events of now (every change).
  virtual void assigned(const v1::Assignment& assignment) = 0;
  // Events to process, each to be acked or nacked. Capacity was taken.
  virtual void deliver(v1::Batch batch) = 0;
  // Intents of a staged domain lost in a server crash (never delivered).
  virtual void gap(const v1::Gap& gap) = 0;
  // The worker drops the member: join refused (an unknown domain, a bad
  // position) or shutting down. The member is removed when this returns;
  // calling SinkHost::leave from inside is allowed and harmless.
  virtual void close(v1::ErrorCode code, const std::string& message) = 0;
};

// The worker's side, as a sink sees it (the Coordinator implements it).
class SinkHost {
 public:
  virtual ~SinkHost() = default;
  // Processed: one or many events the member was handed.
  virtual void ack(std::uint64_t member, const std::vector<v1::EventId>& events) = 0;
  // Failed; `error` is kept with the retry and shown in dead letters.
  virtual void nack(std::uint64_t member, const v1::EventId& event, const std::string& error) = 0;
  // capacity() grew: hand out more.
  virtual void ready(std::uint64_t member) = 0;
  // The member is gone; its unacknowledged events go to the group's other
  // members (or to whichever worker next holds the partition's lease).
  virtual void leave(std::uint64_t member) = 0;
};

// A fresh member id (event loop thread only).
std::uint64_t allocate_member_id();

}  // namespace intentlog
