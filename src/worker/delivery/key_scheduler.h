// KeyScheduler: per-key concurrency control for one (group, domain, partition)
// (docs/DESIGN.md, "Delivery").
//
// Fetched intents wait in one queue per key, in seq order. Only the head of a
// key's queue can be handed out, and only while nothing of that key is in
// flight, so the events of a key reach consumers one at a time, in order.
// Heads of different keys go out concurrently, lowest seq first, up to
// max_in_flight unacknowledged events: a slow or failing key holds back only
// its own successors, never the other keys.
//
// A nack keeps the event at the head of its key (later intents of the key
// stay behind it) and delays the key; take_key() removes a key's whole queue
// for a retry path that parks it elsewhere (SQL retries, issue 4).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "intentlog/v1/event.pb.h"

namespace intentlog {

class KeyScheduler {
 public:
  using Clock = std::chrono::steady_clock;
  using Owner = std::uint64_t;  // who holds an in-flight event (a member id)

  struct Item {
    std::uint64_t batch = 0;  // CommitTracker batch the intent was fetched in
    v1::Event event;          // attempt = deliveries so far
  };

  explicit KeyScheduler(std::size_t max_in_flight) : max_in_flight_(max_in_flight) {}
  KeyScheduler(const KeyScheduler&) = delete;
  KeyScheduler& operator=(const KeyScheduler&) = delete;

  // Adds a fetched intent. Intents of one key must be pushed in seq order.
  void push(Item item);

  // Hands out the next event that may go out now, marks it in flight for
  // `owner` and counts the attempt. nullptr when the in-flight limit is
  // reached or no key is ready. The pointer stays valid until the event is
  // acknowledged, nacked, released or taken.
  const v1::Event* pop_ready(Clock::time_point now, Owner owner);

  // The in-flight event `seq` of `owner` was processed. Returns its batch, or
  // nothing if `owner` does not hold it (a stale or duplicate ack).
  std::optional<std::uint64_t> ack(std::int64_t seq, Owner owner);

  // The in-flight event `seq` of `owner` failed: it stays first of its key,
  // which is not handed out again before `not_before`.
  bool nack(std::int64_t seq, Owner owner, Clock::time_point not_before);

  // Everything `owner` holds goes back to the head of its key, ready to be
  // redelivered (the consumer left). Returns how many events.
  std::size_t release(Owner owner);

  // Removes the key of in-flight event `seq` (held by `owner`) with every
  // intent queued behind it, in seq order, for a retry path.
  std::vector<Item> take_key(std::int64_t seq, Owner owner);

  // The in-flight event `seq` if `owner` holds it.
  const v1::Event* in_flight_event(std::int64_t seq, Owner owner) const;

  // When the earliest delayed key becomes ready, if any key is delayed.
  std::optional<Clock::time_point> next_wakeup() const;

  std::size_t waiting() const { return waiting_; }  // queued, not in flight
  std::size_t bytes() const { return bytes_; }      // approximate memory of every held event
  std::size_t in_flight() const { return in_flight_.size(); }
  std::size_t keys() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }
  bool at_limit() const { return in_flight_.size() >= max_in_flight_; }
  std::size_t max_in_flight() const { return max_in_flight_; }

 private:
  struct KeyQueue {
    const std::string* key = nullptr;  // the map's own key
    std::deque<Item> items;            // seq order; items.front() may be in flight
    bool head_in_flight = false;
    Owner owner = 0;
    std::optional<Clock::time_point> not_before;  // set while delayed by a nack
  };
  using ReadyEntry = std::pair<std::int64_t, KeyQueue*>;  // (head seq, key)
  using DelayedEntry = std::pair<Clock::time_point, KeyQueue*>;

  KeyQueue* held_by(std::int64_t seq, Owner owner);
  void make_ready(KeyQueue* q);
  void promote_due(Clock::time_point now);
  void drop_if_empty(KeyQueue* q);

  std::size_t max_in_flight_;
  std::unordered_map<std::string, KeyQueue> keys_;  // node-based: KeyQueue* stay valid
  std::set<ReadyEntry> ready_;
  std::set<DelayedEntry> delayed_;
  std::unordered_map<std::int64_t, KeyQueue*> in_flight_;  // seq -> its key
  std::size_t waiting_ = 0;
  std::size_t bytes_ = 0;
};

// Approximate memory an event takes while held (for the worker's byte bound).
std::size_t held_bytes(const v1::Event& e);

}  // namespace intentlog
