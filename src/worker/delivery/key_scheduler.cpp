#include "worker/delivery/key_scheduler.h"

namespace intentlog {

std::size_t held_bytes(const v1::Event& e) {
  return sizeof(KeyScheduler::Item) + e.payload().size() + 2 * e.key().size() + e.op().size() + e.headers_json().size();
}

void KeyScheduler::push(Item item) {
  bytes_ += held_bytes(item.event);
  const std::string& key = item.event.key();
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    it = keys_.emplace(key, KeyQueue{}).first;
    it->second.key = &it->first;
  }
  KeyQueue* q = &it->second;
  q->items.push_back(std::move(item));
  ++waiting_;
  if (q->items.size() == 1 && !q->not_before) make_ready(q);
}

void KeyScheduler::make_ready(KeyQueue* q) { ready_.emplace(q->items.front().event.seq(), q); }

void KeyScheduler::promote_due(Clock::time_point now) {
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    KeyQueue* q = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    q->not_before.reset();
    make_ready(q);
  }
}

const v1::Event* KeyScheduler::pop_ready(Clock::time_point now, Owner owner) {
  promote_due(now);
  if (at_limit() || ready_.empty()) return nullptr;
  KeyQueue* q = ready_.begin()->second;
  ready_.erase(ready_.begin());
  q->head_in_flight = true;
  q->owner = owner;
  --waiting_;
  v1::Event& ev = q->items.front().event;
  ev.set_attempt(ev.attempt() + 1);
  in_flight_.emplace(ev.seq(), q);
  return &ev;
}

KeyScheduler::KeyQueue* KeyScheduler::held_by(std::int64_t seq, Owner owner) {
  auto it = in_flight_.find(seq);
  if (it == in_flight_.end() || it->second->owner != owner) return nullptr;
  return it->second;
}

void KeyScheduler::drop_if_empty(KeyQueue* q) {
  if (q->items.empty()) keys_.erase(*q->key);
}

std::optional<std::uint64_t> KeyScheduler::ack(std::int64_t seq, Owner owner) {
  KeyQueue* q = held_by(seq, owner);
  if (!q) return std::nullopt;
  in_flight_.erase(seq);
  const std::uint64_t batch = q->items.front().batch;
  bytes_ -= held_bytes(q->items.front().event);
  q->items.pop_front();
  q->head_in_flight = false;
  if (q->items.empty()) {
    drop_if_empty(q);
  } else {
    make_ready(q);
  }
  return batch;
}

bool KeyScheduler::nack(std::int64_t seq, Owner owner, Clock::time_point not_before) {
  KeyQueue* q = held_by(seq, owner);
  if (!q) return false;
  in_flight_.erase(seq);
  q->head_in_flight = false;
  ++waiting_;
  q->not_before = not_before;
  delayed_.emplace(not_before, q);
  return true;
}

std::size_t KeyScheduler::release(Owner owner) {
  std::size_t n = 0;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    KeyQueue* q = it->second;
    if (q->owner != owner) {
      ++it;
      continue;
    }
    it = in_flight_.erase(it);
    q->head_in_flight = false;
    ++waiting_;
    make_ready(q);
    ++n;
  }
  return n;
}

std::vector<KeyScheduler::Item> KeyScheduler::take_key(std::int64_t seq, Owner owner) {
  std::vector<Item> out;
  KeyQueue* q = held_by(seq, owner);
  if (!q) return out;
  in_flight_.erase(seq);
  waiting_ -= q->items.size() - 1;  // the head was counted as in flight
  for (auto& item : q->items) {
    bytes_ -= held_bytes(item.event);
    out.push_back(std::move(item));
  }
  q->items.clear();
  drop_if_empty(q);
  return out;
}

const v1::Event* KeyScheduler::in_flight_event(std::int64_t seq, Owner owner) const {
  auto it = in_flight_.find(seq);
  if (it == in_flight_.end() || it->second->owner != owner) return nullptr;
  return &it->second->items.front().event;
}

std::optional<KeyScheduler::Clock::time_point> KeyScheduler::next_wakeup() const {
  if (delayed_.empty()) return std::nullopt;
  return delayed_.begin()->first;
}

}  // namespace intentlog
