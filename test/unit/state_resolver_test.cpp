// Progressive consistency reads: when a read may be delivered, and how the
// back-off between reads grows.
#include "worker/state_resolver.h"

#include <gtest/gtest.h>

namespace intentlog {
namespace {

StateRead at(std::int64_t v) {
  StateRead r;
  r.found = true;
  r.version = v;
  return r;
}

TEST(StateResolver, WithoutExpectedVersionAnyReadDoes) {
  EXPECT_TRUE(recent_enough(at(1), std::nullopt));
  EXPECT_TRUE(recent_enough(StateRead{}, std::nullopt));  // no row: delivered without state
}

TEST(StateResolver, ExpectedVersionNeedsThatVersionOrLater) {
  EXPECT_FALSE(recent_enough(at(6), 7));
  EXPECT_TRUE(recent_enough(at(7), 7));
  EXPECT_TRUE(recent_enough(at(8), 7));
  EXPECT_FALSE(recent_enough(StateRead{}, 1));  // no row yet: the state is not written
  EXPECT_FALSE(recent_enough(at(-5), 0));
}

TEST(StateResolver, ReadDelayDoublesAndIsBounded) {
  EXPECT_EQ(next_read_delay(0).count(), 10);
  EXPECT_EQ(next_read_delay(1).count(), 10);
  EXPECT_EQ(next_read_delay(2).count(), 20);
  EXPECT_EQ(next_read_delay(3).count(), 40);
  for (std::uint32_t n = 1; n < 1000; ++n) {
    EXPECT_LE(next_read_delay(n), next_read_delay(n + 1));
    EXPECT_LE(next_read_delay(n).count(), 500);
  }
}

TEST(StateResolver, ProtoStateSaysWhereFrom) {
  StateRead r = at(3);
  r.value = "{\"a\": 1}";
  r.json = true;
  v1::State s = to_state(r, v1::STATE_SOURCE_STANDBY);
  EXPECT_EQ(s.version(), 3);
  EXPECT_EQ(s.json(), "{\"a\": 1}");
  EXPECT_EQ(s.source(), v1::STATE_SOURCE_STANDBY);
  StateRead b = at(4);
  b.value = std::string("\0\1", 2);
  s = to_state(b, v1::STATE_SOURCE_PRIMARY);
  EXPECT_EQ(s.bytes(), std::string("\0\1", 2));
  EXPECT_EQ(s.value_case(), v1::State::kBytes);
  s = to_state(StateRead{}, v1::STATE_SOURCE_PRIMARY);
  EXPECT_FALSE(s.has_version());
  EXPECT_EQ(s.value_case(), v1::State::VALUE_NOT_SET);
}

}  // namespace
}  // namespace intentlog
