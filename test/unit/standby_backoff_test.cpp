// Progressive consistency reads with a standby that goes away: when the
// standby is read, how the back-off after connection failures grows, and
// which errors count as connection failures (worker/state_resolver.h).
#include <gtest/gtest.h>

#include <limits>
#include <set>

#include "worker/state_resolver.h"

namespace intentlog {
namespace {

using std::chrono::milliseconds;
using Change = StandbyBackoff::Change;
using Clock = StandbyBackoff::Clock;

// The back-off before jitter after `failures` failures with the defaults.
milliseconds full_backoff(std::uint32_t failures) {
  std::int64_t ms = 100;
  for (std::uint32_t i = 1; i < failures && ms < 10000; ++i) ms *= 2;
  return milliseconds(std::min<std::int64_t>(ms, 10000));
}

TEST(StandbyBackoff, DelayDoublesFromBaseUpToTheCap) {
  const StandbyBackoffOptions o;
  EXPECT_EQ(standby_backoff(1, 1.0, o).count(), 100);
  EXPECT_EQ(standby_backoff(2, 1.0, o).count(), 200);
  EXPECT_EQ(standby_backoff(3, 1.0, o).count(), 400);
  EXPECT_EQ(standby_backoff(7, 1.0, o).count(), 6400);
  EXPECT_EQ(standby_backoff(8, 1.0, o).count(), 10000);  // 12800, capped
  EXPECT_EQ(standby_backoff(1000, 1.0, o).count(), 10000);
  EXPECT_EQ(standby_backoff(std::numeric_limits<std::uint32_t>::max(), 1.0, o).count(), 10000);
  for (std::uint32_t n = 1; n < 100; ++n) EXPECT_LE(standby_backoff(n, 1.0, o), standby_backoff(n + 1, 1.0, o));
  const StandbyBackoffOptions custom{milliseconds(30), milliseconds(100)};
  EXPECT_EQ(standby_backoff(1, 1.0, custom).count(), 30);
  EXPECT_EQ(standby_backoff(3, 1.0, custom).count(), 100);  // 120, capped
  const StandbyBackoffOptions zero{milliseconds(0), milliseconds(100)};
  EXPECT_EQ(standby_backoff(1000000, 1.0, zero).count(), 0);  // terminates
}

TEST(StandbyBackoff, JitterStaysInTheUpperHalf) {
  const StandbyBackoffOptions o;
  for (std::uint32_t n = 1; n < 12; ++n) {
    const milliseconds full = full_backoff(n);
    EXPECT_EQ(standby_backoff(n, 0.0, o), full / 2);
    EXPECT_EQ(standby_backoff(n, 1.0, o), full);
    for (double j = 0.0; j <= 1.0; j += 0.05) {
      EXPECT_GE(standby_backoff(n, j, o), full / 2);
      EXPECT_LE(standby_backoff(n, j, o), full);
    }
    EXPECT_EQ(standby_backoff(n, -3.0, o), full / 2);  // out-of-range jitter is clamped
    EXPECT_EQ(standby_backoff(n, 7.0, o), full);
  }
}

TEST(StandbyBackoff, UpReadsGoToTheStandby) {
  StandbyBackoff b;
  const auto t = b.acquire(Clock::now());
  EXPECT_TRUE(t.use);
  EXPECT_FALSE(t.probe);
  EXPECT_EQ(b.reached(t), Change::kNone);
  EXPECT_FALSE(b.down());
  EXPECT_EQ(b.failures(), 0u);
}

TEST(StandbyBackoff, OneOutageIsOneFailureHoweverManyReadsWereUnderWay) {
  StandbyBackoff b({}, 1);
  const auto now = Clock::now();
  const auto t1 = b.acquire(now), t2 = b.acquire(now), t3 = b.acquire(now), t4 = b.acquire(now);
  EXPECT_EQ(b.failed(t1, now), Change::kDown);
  EXPECT_TRUE(b.down());
  EXPECT_EQ(b.failures(), 1u);
  const milliseconds first = b.retry_in();
  EXPECT_EQ(b.failed(t2, now), Change::kNone);  // stale: the outage is known
  EXPECT_EQ(b.failed(t3, now), Change::kNone);
  EXPECT_EQ(b.failures(), 1u);
  EXPECT_EQ(b.retry_in(), first);
  EXPECT_EQ(b.reached(t4), Change::kNone);  // a read that finished before the outage says nothing
  EXPECT_TRUE(b.down());
  EXPECT_EQ(b.down_since(), now);
}

TEST(StandbyBackoff, DownSkipsTheStandbyUntilTheBackoffThenProbesOnce) {
  StandbyBackoff b({}, 2);
  const auto t0 = Clock::now();
  b.failed(b.acquire(t0), t0);
  const milliseconds wait = b.retry_in();
  EXPECT_GE(wait.count(), 50);
  EXPECT_LE(wait.count(), 100);
  EXPECT_FALSE(b.acquire(t0).use);
  EXPECT_FALSE(b.acquire(t0 + wait - milliseconds(1)).use);
  const auto probe = b.acquire(t0 + wait);
  EXPECT_TRUE(probe.use);
  EXPECT_TRUE(probe.probe);
  // While the probe is out, the other reads stay on the primary.
  EXPECT_FALSE(b.acquire(t0 + wait).use);
  EXPECT_FALSE(b.acquire(t0 + wait + milliseconds(60000)).use);
}

TEST(StandbyBackoff, FailedProbesGrowTheBackoffToTheCapWithoutAnotherTransition) {
  StandbyBackoff b({}, 3);
  auto now = Clock::now();
  EXPECT_EQ(b.failed(b.acquire(now), now), Change::kDown);
  for (std::uint32_t n = 2; n <= 20; ++n) {
    now += b.retry_in();
    const auto probe = b.acquire(now);
    ASSERT_TRUE(probe.probe);
    EXPECT_EQ(b.failed(probe, now), Change::kNone);
    EXPECT_EQ(b.failures(), n);
    EXPECT_GE(b.retry_in(), full_backoff(n) / 2);
    EXPECT_LE(b.retry_in(), full_backoff(n));
    EXPECT_LE(b.retry_in().count(), 10000);
    EXPECT_TRUE(b.down());
  }
  EXPECT_GE(b.retry_in().count(), 5000);  // at the cap
}

TEST(StandbyBackoff, ASuccessfulProbeResetsTheBackoff) {
  StandbyBackoff b({}, 4);
  auto now = Clock::now();
  b.failed(b.acquire(now), now);
  for (int i = 0; i < 6; ++i) {
    now += b.retry_in();
    b.failed(b.acquire(now), now);
  }
  EXPECT_EQ(b.failures(), 7u);
  now += b.retry_in();
  const auto probe = b.acquire(now);
  ASSERT_TRUE(probe.probe);
  EXPECT_EQ(b.reached(probe), Change::kUp);
  EXPECT_FALSE(b.down());
  EXPECT_EQ(b.failures(), 0u);
  const auto t = b.acquire(now);
  EXPECT_TRUE(t.use);
  EXPECT_FALSE(t.probe);
  // The next outage starts again from the base delay.
  EXPECT_EQ(b.failed(t, now), Change::kDown);
  EXPECT_GE(b.retry_in().count(), 50);
  EXPECT_LE(b.retry_in().count(), 100);
}

TEST(StandbyBackoff, ReadsFromBeforeARecoveryDoNotMarkItDownAgain) {
  StandbyBackoff b({}, 5);
  auto now = Clock::now();
  const auto old1 = b.acquire(now), old2 = b.acquire(now);
  b.failed(old1, now);
  now += b.retry_in();
  EXPECT_EQ(b.reached(b.acquire(now)), Change::kUp);
  EXPECT_EQ(b.failed(old2, now), Change::kNone);  // under way since before the outage
  EXPECT_FALSE(b.down());
}

TEST(StandbyBackoff, AnAbandonedProbeIsMadeAgain) {
  StandbyBackoff b({}, 6);
  auto now = Clock::now();
  b.failed(b.acquire(now), now);
  now += b.retry_in();
  const auto probe = b.acquire(now);
  ASSERT_TRUE(probe.probe);
  b.abandoned(probe);
  EXPECT_TRUE(b.down());
  EXPECT_EQ(b.failures(), 1u);
  EXPECT_TRUE(b.acquire(now).probe);
  // Abandoning a read that was not the probe changes nothing.
  StandbyBackoff up;
  const auto t = up.acquire(now);
  up.abandoned(t);
  EXPECT_FALSE(up.down());
  EXPECT_TRUE(up.acquire(now).use);
}

TEST(StandbyBackoff, NotUsedTicketsSayNothing) {
  StandbyBackoff b({}, 7);
  const auto now = Clock::now();
  b.failed(b.acquire(now), now);
  const auto skipped = b.acquire(now);
  ASSERT_FALSE(skipped.use);
  EXPECT_EQ(b.failed(skipped, now), Change::kNone);
  EXPECT_EQ(b.reached(skipped), Change::kNone);
  EXPECT_EQ(b.failures(), 1u);
  EXPECT_TRUE(b.down());
}

TEST(StandbyBackoff, JitterDiffersBetweenWorkers) {
  std::set<std::int64_t> seen;
  const auto now = Clock::now();
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    StandbyBackoff b({}, seed);
    b.failed(b.acquire(now), now);
    EXPECT_GE(b.retry_in().count(), 50);
    EXPECT_LE(b.retry_in().count(), 100);
    seen.insert(b.retry_in().count());
  }
  EXPECT_GT(seen.size(), 10u);
}

TEST(StandbyConnection, OnlyConnectionErrorsCountAsFailures) {
  EXPECT_TRUE(is_connection_failure("08006"));  // connection_failure
  EXPECT_TRUE(is_connection_failure("08001"));  // cannot connect
  EXPECT_TRUE(is_connection_failure("57P01"));  // admin_shutdown: the standby is being stopped
  EXPECT_TRUE(is_connection_failure("57P02"));
  EXPECT_TRUE(is_connection_failure("57P03"));   // starting up, not accepting connections yet
  EXPECT_FALSE(is_connection_failure("57014"));  // statement timeout
  EXPECT_FALSE(is_connection_failure("40001"));  // conflict with recovery
  EXPECT_FALSE(is_connection_failure("42P01"));  // the state_query's table is missing
  EXPECT_FALSE(is_connection_failure(""));
}

TEST(StandbyConnection, ConnectTimeoutIsAddedWhenNoneIsGiven) {
  EXPECT_EQ(with_connect_timeout("host=/tmp/s port=5433 dbname=app", 2),
            "host=/tmp/s port=5433 dbname=app connect_timeout=2");
  EXPECT_EQ(with_connect_timeout("host=/tmp/s port=5433 connect_timeout=7", 2),
            "host=/tmp/s port=5433 connect_timeout=7");
  EXPECT_EQ(with_connect_timeout("host = h  connect_timeout = '9' ", 2), "host = h  connect_timeout = '9' ");
  // Inside a quoted value it is not a keyword.
  EXPECT_EQ(with_connect_timeout("application_name='x connect_timeout=9' host=h", 2),
            "application_name='x connect_timeout=9' host=h connect_timeout=2");
  EXPECT_EQ(with_connect_timeout("password='it\\'s' host=h", 3), "password='it\\'s' host=h connect_timeout=3");
  EXPECT_EQ(with_connect_timeout("password=a\\ connect_timeout=1", 2),
            "password=a\\ connect_timeout=1 connect_timeout=2");
  // URIs.
  EXPECT_EQ(with_connect_timeout("postgresql://h:5433/app", 2), "postgresql://h:5433/app?connect_timeout=2");
  EXPECT_EQ(with_connect_timeout("postgres://h/app?sslmode=disable", 2),
            "postgres://h/app?sslmode=disable&connect_timeout=2");
  EXPECT_EQ(with_connect_timeout("postgresql://h/app?connect_timeout=5&sslmode=disable", 2),
            "postgresql://h/app?connect_timeout=5&sslmode=disable");
  EXPECT_EQ(with_connect_timeout("postgresql://h/app?sslmode=disable&connect_timeout=5", 2),
            "postgresql://h/app?sslmode=disable&connect_timeout=5");
  EXPECT_EQ(with_connect_timeout("postgresql://h/app?", 2), "postgresql://h/app?connect_timeout=2");
  // What libpq would reject is left for the connect to report.
  EXPECT_EQ(with_connect_timeout("host", 2), "host");
  EXPECT_EQ(with_connect_timeout("host='h", 2), "host='h");
}

}  // namespace
}  // namespace intentlog
