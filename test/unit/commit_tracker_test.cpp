// CommitTracker: a cursor becomes committable only when its batch and every
// earlier batch are fully resolved.
#include "worker/delivery/commit_tracker.h"

#include <gtest/gtest.h>

namespace intentlog {
namespace {

TEST(CommitTracker, WaitsForEveryEventOfTheBatch) {
  CommitTracker t;
  const auto b = t.add_batch("10", 3);
  EXPECT_FALSE(t.take_committable());
  EXPECT_TRUE(t.resolve(b));
  EXPECT_TRUE(t.resolve(b));
  EXPECT_FALSE(t.take_committable());
  EXPECT_TRUE(t.resolve(b));
  EXPECT_EQ(t.take_committable(), "10");
  EXPECT_FALSE(t.take_committable());  // only once
  EXPECT_EQ(t.open_batches(), 0u);
}

TEST(CommitTracker, LaterBatchWaitsForEarlier) {
  CommitTracker t;
  const auto b1 = t.add_batch("10;77:5", 2);
  const auto b2 = t.add_batch("20", 1);
  t.resolve(b2);
  EXPECT_FALSE(t.take_committable());  // b1 still open: committing "20" could lose it
  t.resolve(b1);
  EXPECT_FALSE(t.take_committable());
  t.resolve(b1);
  EXPECT_EQ(t.take_committable(), "20");  // both done: jump to the last
}

TEST(CommitTracker, PrefixOnly) {
  CommitTracker t;
  const auto b1 = t.add_batch("1", 1);
  const auto b2 = t.add_batch("2", 1);
  const auto b3 = t.add_batch("3", 1);
  t.resolve(b1);
  t.resolve(b3);
  EXPECT_EQ(t.take_committable(), "1");
  EXPECT_EQ(t.unresolved(), 1u);
  t.resolve(b2);
  EXPECT_EQ(t.take_committable(), "3");
}

TEST(CommitTracker, RejectsUnknownAndOverResolved) {
  CommitTracker t;
  const auto b = t.add_batch("5", 1);
  EXPECT_FALSE(t.resolve(b + 1));
  EXPECT_TRUE(t.resolve(b));
  EXPECT_FALSE(t.resolve(b));
  EXPECT_EQ(t.take_committable(), "5");
  EXPECT_FALSE(t.resolve(b));  // dropped already
}

TEST(CommitTracker, EmptyBatchIsImmediatelyCommittable) {
  CommitTracker t;
  t.add_batch("9", 0);
  EXPECT_EQ(t.take_committable(), "9");
}

}  // namespace
}  // namespace intentlog
