#include "worker/delivery/commit_tracker.h"

#include <utility>

namespace intentlog {

std::uint64_t CommitTracker::add_batch(std::string cursor, std::size_t events) {
  batches_.push_back(Batch{std::move(cursor), events});
  unresolved_ += events;
  return first_id_ + batches_.size() - 1;
}

bool CommitTracker::resolve(std::uint64_t id) {
  if (id < first_id_ || id - first_id_ >= batches_.size()) return false;
  Batch& b = batches_[id - first_id_];
  if (b.remaining == 0) return false;
  --b.remaining;
  --unresolved_;
  return true;
}

std::optional<std::string> CommitTracker::take_committable() {
  std::optional<std::string> cursor;
  while (!batches_.empty() && batches_.front().remaining == 0) {
    cursor = std::move(batches_.front().cursor);
    batches_.pop_front();
    ++first_id_;
  }
  return cursor;
}

}  // namespace intentlog
