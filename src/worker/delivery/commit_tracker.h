// CommitTracker: which cursor a consumer group may commit for a partition.
//
// Fetches hand out batches in order, each ending at a cursor. A cursor may be
// committed only once every intent of its batch and of all earlier batches
// was acknowledged (or handed to a retry path): committing earlier would let
// a worker crash lose an unacknowledged intent. Events of one batch are
// acknowledged in any order (different keys go out concurrently), and seqs
// are not monotonic across batches (late committers of pending xids come
// after higher seqs), so the tracker counts per batch rather than per seq.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace intentlog {

class CommitTracker {
 public:
  // A fetched batch of `events` intents ending at `cursor`. Returns its id.
  std::uint64_t add_batch(std::string cursor, std::size_t events);

  // One intent of batch `id` is done with. Returns false for an unknown
  // batch or one with nothing outstanding (a bug in the caller).
  bool resolve(std::uint64_t id);

  // The cursor after the longest prefix of fully resolved batches, if that
  // prefix grew since the last call; the batches of the prefix are dropped.
  std::optional<std::string> take_committable();

  // Batches fetched but not yet committable.
  std::size_t open_batches() const { return batches_.size(); }
  std::size_t unresolved() const { return unresolved_; }

 private:
  struct Batch {
    std::string cursor;
    std::size_t remaining = 0;
  };
  std::deque<Batch> batches_;
  std::uint64_t first_id_ = 1;  // id of batches_.front()
  std::size_t unresolved_ = 0;
};

}  // namespace intentlog
