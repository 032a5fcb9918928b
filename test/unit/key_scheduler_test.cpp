// KeyScheduler: order per key, one in flight per key, no head-of-line
// blocking across keys, the in-flight limit, nack delays and redelivery.
#include "worker/delivery/key_scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

namespace intentlog {
namespace {

using Clock = KeyScheduler::Clock;
const Clock::time_point t0 = Clock::time_point() + std::chrono::hours(1);

KeyScheduler::Item item(std::int64_t seq, const std::string& key, std::uint64_t batch = 1) {
  KeyScheduler::Item it;
  it.batch = batch;
  it.event.set_seq(seq);
  it.event.set_key(key);
  return it;
}

std::int64_t pop(KeyScheduler& s, KeyScheduler::Owner owner = 1, Clock::time_point now = t0) {
  const v1::Event* e = s.pop_ready(now, owner);
  return e ? e->seq() : -1;
}

TEST(KeyScheduler, OneInFlightPerKeyInSeqOrder) {
  KeyScheduler s(10);
  s.push(item(1, "a"));
  s.push(item(2, "a"));
  s.push(item(3, "b"));
  EXPECT_EQ(pop(s), 1);
  EXPECT_EQ(pop(s), 3);   // b is not blocked by a
  EXPECT_EQ(pop(s), -1);  // a's next waits for the ack of 1
  EXPECT_EQ(s.in_flight(), 2u);
  EXPECT_EQ(s.waiting(), 1u);
  ASSERT_TRUE(s.ack(1, 1));
  EXPECT_EQ(pop(s), 2);
  EXPECT_TRUE(s.ack(2, 1));
  EXPECT_TRUE(s.ack(3, 1));
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.waiting(), 0u);
}

TEST(KeyScheduler, LowestSeqHeadFirst) {
  KeyScheduler s(10);
  s.push(item(5, "x"));
  s.push(item(2, "y"));  // late committer of a pending xid: lower seq, pushed later
  s.push(item(9, "z"));
  EXPECT_EQ(pop(s), 2);
  EXPECT_EQ(pop(s), 5);
  EXPECT_EQ(pop(s), 9);
}

TEST(KeyScheduler, InFlightLimit) {
  KeyScheduler s(2);
  for (int i = 1; i <= 4; ++i) s.push(item(i, "k" + std::to_string(i)));
  EXPECT_EQ(pop(s), 1);
  EXPECT_EQ(pop(s), 2);
  EXPECT_TRUE(s.at_limit());
  EXPECT_EQ(pop(s), -1);
  s.ack(2, 1);
  EXPECT_EQ(pop(s), 3);
}

TEST(KeyScheduler, AckOnlyByOwnerAndOnce) {
  KeyScheduler s(10);
  s.push(item(1, "a", 7));
  EXPECT_EQ(pop(s, 42), 1);
  EXPECT_FALSE(s.ack(1, 43));  // another consumer
  EXPECT_FALSE(s.ack(2, 42));  // never sent
  auto batch = s.ack(1, 42);
  ASSERT_TRUE(batch);
  EXPECT_EQ(*batch, 7u);
  EXPECT_FALSE(s.ack(1, 42));  // duplicate
}

TEST(KeyScheduler, AttemptCountsDeliveries) {
  KeyScheduler s(10);
  s.push(item(1, "a"));
  const v1::Event* e = s.pop_ready(t0, 1);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->attempt(), 1u);
  EXPECT_EQ(s.release(1), 1u);
  e = s.pop_ready(t0, 2);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->attempt(), 2u);
}

TEST(KeyScheduler, NackDelaysOnlyItsKey) {
  KeyScheduler s(10);
  s.push(item(1, "a"));
  s.push(item(2, "a"));
  s.push(item(3, "b"));
  s.push(item(4, "b"));
  EXPECT_EQ(pop(s), 1);
  EXPECT_EQ(pop(s), 3);
  const auto later = t0 + std::chrono::seconds(2);
  EXPECT_TRUE(s.nack(1, 1, later));
  EXPECT_EQ(s.next_wakeup(), later);
  s.ack(3, 1);
  EXPECT_EQ(pop(s), 4);   // b flows on
  EXPECT_EQ(pop(s), -1);  // a waits: 1 is delayed and 2 stays behind it
  s.push(item(5, "a"));
  EXPECT_EQ(pop(s, 1, later), 1);  // redelivered first, then its successors
  EXPECT_EQ(pop(s, 1, later), -1);
  s.ack(1, 1);
  EXPECT_EQ(pop(s, 1, later), 2);
  s.ack(2, 1);
  EXPECT_EQ(pop(s, 1, later), 5);
  EXPECT_FALSE(s.next_wakeup());
}

TEST(KeyScheduler, ReleaseReturnsOnlyThatOwnersEvents) {
  KeyScheduler s(10);
  s.push(item(1, "a"));
  s.push(item(2, "b"));
  s.push(item(3, "a"));
  EXPECT_EQ(pop(s, 1), 1);
  EXPECT_EQ(pop(s, 2), 2);
  EXPECT_EQ(s.release(1), 1u);
  EXPECT_EQ(pop(s, 2), 1);  // a's head again, not 3
  EXPECT_EQ(pop(s, 2), -1);
  EXPECT_FALSE(s.ack(1, 1));
  EXPECT_TRUE(s.ack(1, 2));
  EXPECT_TRUE(s.ack(2, 2));
}

TEST(KeyScheduler, TakeKeyRemovesItsQueue) {
  KeyScheduler s(10);
  s.push(item(1, "a", 1));
  s.push(item(2, "b", 1));
  s.push(item(3, "a", 2));
  s.push(item(4, "a", 2));
  EXPECT_EQ(pop(s), 1);
  auto taken = s.take_key(1, 1);
  ASSERT_EQ(taken.size(), 3u);
  EXPECT_EQ(taken[0].event.seq(), 1);
  EXPECT_EQ(taken[2].event.seq(), 4);
  EXPECT_EQ(s.waiting(), 1u);
  EXPECT_EQ(s.in_flight(), 0u);
  EXPECT_EQ(pop(s), 2);
  EXPECT_EQ(pop(s), -1);
}

// Random interleaving of pushes, pops, acks, nacks and releases: every intent
// is delivered, per key in seq order, never two of a key at once.
TEST(KeyScheduler, RandomizedInvariants) {
  std::mt19937 rng(12345);
  KeyScheduler s(8);
  std::map<std::string, std::int64_t> last_acked;  // key -> last acked seq
  std::map<std::string, std::int64_t> in_flight;   // key -> seq
  std::vector<std::pair<std::int64_t, KeyScheduler::Owner>> sent;
  std::int64_t next_seq = 1;
  std::size_t acked = 0;
  Clock::time_point now = t0;
  const int total = 5000;
  while (acked < static_cast<std::size_t>(total)) {
    now += std::chrono::milliseconds(1);
    const int op = static_cast<int>(rng() % 10);
    if (op < 3 && next_seq <= total) {
      s.push(item(next_seq, "k" + std::to_string(rng() % 20)));
      ++next_seq;
    } else if (op < 6) {
      const KeyScheduler::Owner owner = 1 + rng() % 2;
      if (const v1::Event* e = s.pop_ready(now, owner)) {
        ASSERT_EQ(in_flight.count(e->key()), 0u) << "two in flight for " << e->key();
        auto it = last_acked.find(e->key());
        if (it != last_acked.end()) {
          ASSERT_GT(e->seq(), it->second);
        }
        in_flight[e->key()] = e->seq();
        sent.emplace_back(e->seq(), owner);
      }
    } else if (!sent.empty()) {
      const std::size_t i = rng() % sent.size();
      const auto [seq, owner] = sent[i];
      sent.erase(sent.begin() + static_cast<long>(i));
      std::string key;
      for (auto& [k, v] : in_flight) {
        if (v == seq) key = k;
      }
      ASSERT_FALSE(key.empty());
      if (op == 9) {
        ASSERT_TRUE(s.nack(seq, owner, now + std::chrono::milliseconds(rng() % 20)));
        in_flight.erase(key);
      } else if (op == 8 && rng() % 4 == 0) {
        s.release(owner);
        for (auto it = sent.begin(); it != sent.end();) {
          if (it->second == owner) {
            for (auto f = in_flight.begin(); f != in_flight.end(); ++f)
              if (f->second == it->first) {
                in_flight.erase(f);
                break;
              }
            it = sent.erase(it);
          } else {
            ++it;
          }
        }
        in_flight.erase(key);
      } else {
        ASSERT_TRUE(s.ack(seq, owner));
        last_acked[key] = seq;
        in_flight.erase(key);
        ++acked;
      }
    }
  }
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.waiting(), 0u);
}

}  // namespace
}  // namespace intentlog

namespace intentlog {
namespace {

TEST(KeyScheduler, BytesFollowHeldEvents) {
  KeyScheduler s(10);
  EXPECT_EQ(s.bytes(), 0u);
  auto a = item(1, "a");
  a.event.set_payload(std::string(1000, 'x'));
  s.push(std::move(a));
  s.push(item(2, "a"));
  s.push(item(3, "b"));
  EXPECT_GT(s.bytes(), 1000u);
  EXPECT_EQ(pop(s), 1);
  EXPECT_EQ(pop(s), 3);
  s.ack(1, 1);
  EXPECT_LT(s.bytes(), 1000u);
  auto taken = s.take_key(3, 1);
  EXPECT_EQ(taken.size(), 1u);
  EXPECT_EQ(pop(s), 2);
  s.ack(2, 1);
  EXPECT_EQ(s.bytes(), 0u);
}

}  // namespace
}  // namespace intentlog
