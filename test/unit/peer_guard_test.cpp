#include "worker/net/peer_guard.h"

#include <gtest/gtest.h>

#include "worker/log_throttle.h"

namespace intentlog {
namespace {

using Clock = PeerGuard::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

PeerGuard::Limits limits() {
  PeerGuard::Limits l;
  l.max_unauthenticated = 3;
  l.auth_burst = 2;
  l.auth_refill = seconds(1);
  l.log_interval = seconds(10);
  l.max_peers = 4;
  return l;
}

TEST(PeerGuard, BoundsConnectionsBeforeHelloPerPeer) {
  PeerGuard g(limits());
  EXPECT_TRUE(g.open("ip:1"));
  EXPECT_TRUE(g.open("ip:1"));
  EXPECT_TRUE(g.open("ip:1"));
  EXPECT_FALSE(g.open("ip:1"));
  EXPECT_TRUE(g.open("ip:2"));  // another peer has its own bound
  g.settled("ip:1");
  EXPECT_TRUE(g.open("ip:1"));
  EXPECT_EQ(g.unauthenticated("ip:1"), 3u);
}

TEST(PeerGuard, SettledTwiceDoesNotGoBelowZero) {
  PeerGuard g(limits());
  g.settled("ip:1");
  EXPECT_TRUE(g.open("ip:1"));
  g.settled("ip:1");
  g.settled("ip:1");
  EXPECT_EQ(g.unauthenticated("ip:1"), 0u);
}

TEST(PeerGuard, FailedAuthenticationsAreThrottledAfterTheBurst) {
  PeerGuard g(limits());
  const auto t = Clock::now();
  std::uint64_t suppressed = 99;
  EXPECT_TRUE(g.may_authenticate("ip:1", t));
  EXPECT_TRUE(g.failed("ip:1", t, &suppressed));  // the first of a burst is logged
  EXPECT_EQ(suppressed, 0u);
  EXPECT_TRUE(g.may_authenticate("ip:1", t));
  EXPECT_FALSE(g.failed("ip:1", t, &suppressed));
  EXPECT_FALSE(g.may_authenticate("ip:1", t));  // burst of 2 spent
  EXPECT_TRUE(g.may_authenticate("ip:2", t));
  // Throttled tries cost nothing: after one refill period one try is allowed.
  for (int i = 0; i < 100; ++i) g.failed("ip:1", t + milliseconds(i), &suppressed);
  EXPECT_FALSE(g.may_authenticate("ip:1", t + milliseconds(500)));
  EXPECT_TRUE(g.may_authenticate("ip:1", t + milliseconds(1000)));
  // The next logged failure says how many were not logged.
  EXPECT_TRUE(g.failed("ip:1", t + seconds(11), &suppressed));
  EXPECT_EQ(suppressed, 101u);
}

TEST(PeerGuard, TableIsBoundedByForgettingIdlePeers) {
  PeerGuard g(limits());
  const auto t = Clock::now();
  std::uint64_t s = 0;
  for (int i = 0; i < 10000; ++i) g.failed("ip:" + std::to_string(i), t, &s);
  EXPECT_LE(g.tracked_peers(), 4u);
  EXPECT_TRUE(g.open("ip:busy"));
  for (int i = 0; i < 100; ++i) g.failed("ip:x" + std::to_string(i), t, &s);
  EXPECT_EQ(g.unauthenticated("ip:busy"), 1u);  // a peer with a connection open is kept
}

TEST(LogThrottle, OneLinePerIntervalWithTheCountLeftOut) {
  LogThrottle th(seconds(10));
  const auto t = Clock::now();
  std::uint64_t s = 99;
  EXPECT_TRUE(th.allow(t, &s));
  EXPECT_EQ(s, 0u);
  EXPECT_FALSE(th.allow(t + seconds(1), &s));
  EXPECT_FALSE(th.allow(t + seconds(9), &s));
  EXPECT_EQ(th.pending(), 2u);
  EXPECT_TRUE(th.allow(t + seconds(10), &s));
  EXPECT_EQ(s, 2u);
}

}  // namespace
}  // namespace intentlog
