#include "common/snapshot_cursor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace intentlog {
namespace {

SnapshotView snap(std::uint64_t xmin, std::uint64_t xmax, std::vector<std::uint64_t> xip) {
  SnapshotView s;
  s.xmin = xmin;
  s.xmax = xmax;
  s.xip = std::move(xip);
  return s;
}

TEST(CursorText, RoundTrip) {
  CursorState c;
  c.watermark = 42;
  EXPECT_EQ(format_cursor(c), "42");
  c.pending = {{700, 10}, {705, 41}};
  EXPECT_EQ(format_cursor(c), "42;700:10,705:41");
  auto back = parse_cursor("42;700:10,705:41");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, c);
  EXPECT_EQ(parse_cursor("0")->watermark, 0);
}

TEST(CursorText, RejectsGarbage) {
  for (const char* bad : {"", "x", "-1", "1;", "1;2", "1;2:", "1;:3", "1;3:1,2:1", "1;3:1,3:1", "1;3:-1", "1 ",
                          "1;3:1,", "99999999999999999999"})
    EXPECT_FALSE(parse_cursor(bad)) << bad;
}

TEST(Advance, TailOnly) {
  CursorState c;
  auto next = advance_cursor(c, snap(10, 10, {}), {{1, 5}, {2, 6}, {3, 7}}, false);
  EXPECT_EQ(next.watermark, 3);
  EXPECT_TRUE(next.pending.empty());
}

TEST(Advance, NothingReadChangesNothingButFinishedPending) {
  CursorState c;
  c.watermark = 7;
  c.pending = {{20, 5}, {21, 5}};
  auto next = advance_cursor(c, snap(21, 30, {21}), {}, false);
  EXPECT_EQ(next.watermark, 7);
  ASSERT_EQ(next.pending.size(), 1u);  // 20 finished (aborted or empty), 21 still open
  EXPECT_EQ(next.pending[0].xid, 21u);
}

TEST(Advance, InProgressBelowWatermarkBecomesPendingThenIsRead) {
  // xid 100 holds seq 2 and is open; seqs 1 and 3 are visible.
  CursorState c;
  auto s1 = snap(100, 102, {100});
  auto c1 = advance_cursor(c, s1, {{1, 99}, {3, 101}}, false);
  EXPECT_EQ(c1.watermark, 3);
  ASSERT_EQ(c1.pending.size(), 1u);
  EXPECT_EQ(c1.pending[0], (PendingXid{100, 0}));
  // 100 commits: its seq 2 comes back through the pending branch.
  auto c2 = advance_cursor(c1, snap(102, 102, {}), {{2, 100}}, false);
  EXPECT_EQ(c2.watermark, 3);
  EXPECT_TRUE(c2.pending.empty());
}

TEST(Advance, NewInProgressXidNotAddedWhenWatermarkStays) {
  CursorState c;
  c.watermark = 5;
  auto next = advance_cursor(c, snap(50, 51, {50}), {}, false);
  EXPECT_TRUE(next.pending.empty());
}

TEST(Advance, CutBelowWatermarkKeepsPendingWithProgress) {
  // Pending 100 committed with seqs 2 and 4 below W = 5; the fetch stops at 1 row.
  CursorState c;
  c.watermark = 5;
  c.pending = {{100, 0}};
  auto c1 = advance_cursor(c, snap(101, 101, {}), {{2, 100}}, true);
  EXPECT_EQ(c1.watermark, 5);
  ASSERT_EQ(c1.pending.size(), 1u);
  EXPECT_EQ(c1.pending[0], (PendingXid{100, 2}));
  auto c2 = advance_cursor(c1, snap(101, 101, {}), {{4, 100}}, false);
  EXPECT_TRUE(c2.pending.empty());
}

TEST(Advance, LastSeqMovesAnUncutCursorOverRowsElsewhere) {
  // The promoter's cursor over a hot table: seqs 6..9 went straight to a
  // segment, 10 is in the hot table, held by xid 60, still in progress; the
  // partition's last seq was 10 before the snapshot.
  CursorState c;
  c.watermark = 5;
  c.pending = {{40, 3}};  // still in progress: kept
  auto next = advance_cursor(c, snap(40, 61, {40, 60}), {}, false, 10);
  EXPECT_EQ(next.watermark, 10);
  EXPECT_EQ(next.pending, (std::vector<PendingXid>{{40, 3}, {60, 5}}));
  // Cut: rows above the last one returned may be unread, so it stays there.
  auto cut = advance_cursor(c, snap(40, 61, {40}), {{7, 39}}, true, 10);
  EXPECT_EQ(cut.watermark, 7);
  // A last seq below the rows changes nothing.
  EXPECT_EQ(advance_cursor(c, snap(40, 61, {40}), {{7, 39}}, false, 6).watermark, 7);
}

TEST(Latest, InProgressAndLateXidsArePendingFromZeroOwnAreNot) {
  SnapshotView s = snap(20, 30, {25, 21});
  s.xip = {21, 25};
  s.next_xid = 33;    // 30, 31, 32 started after xmax was set
  s.own_xids = {31};  // the reader's own xid sees its rows
  CursorState c = latest_cursor(500, s);
  EXPECT_EQ(c.watermark, 500);
  ASSERT_EQ(c.pending.size(), 4u);
  EXPECT_EQ(c.pending[0], (PendingXid{21, 0}));
  EXPECT_EQ(c.pending[1], (PendingXid{25, 0}));
  EXPECT_EQ(c.pending[2], (PendingXid{30, 0}));
  EXPECT_EQ(c.pending[3], (PendingXid{32, 0}));
  EXPECT_EQ(safe_seq(c), 0);
  EXPECT_EQ(format_cursor(c), "500;21:0,25:0,30:0,32:0");
}

TEST(Latest, QuietPartitionIsJustTheWatermark) {
  SnapshotView s = snap(40, 40, {});
  s.next_xid = 40;
  EXPECT_EQ(format_cursor(latest_cursor(7, s)), "7");
}

TEST(Advance, SafeSeq) {
  CursorState c;
  c.watermark = 50;
  EXPECT_EQ(safe_seq(c), 50);
  c.pending = {{1, 40}, {2, 45}};
  EXPECT_EQ(safe_seq(c), 40);
}

// A model of the append path and the fetch query: transactions take their xid
// before any seq, commit or abort in random order; a reader fetches with
// random batch sizes. Every committed row must be read exactly once, no
// aborted row ever, whatever the interleaving.
struct Txn {
  std::uint64_t xid;
  std::vector<std::int64_t> seqs;
  enum { kOpen, kCommitted, kAborted } state = kOpen;
};

class Model {
 public:
  explicit Model(unsigned seed) : rng_(seed) {}

  void step() {
    int action = pick(0, 9);
    if (action < 3 || open_.empty()) {
      txns_.push_back(Txn{next_xid_++, {}});
      open_.push_back(txns_.size() - 1);
    } else if (action < 6) {
      txns_[open_[pick(0, open_.size() - 1)]].seqs.push_back(next_seq_++);
    } else {
      std::size_t i = pick(0, open_.size() - 1);
      txns_[open_[i]].state = pick(0, 4) == 0 ? Txn::kAborted : Txn::kCommitted;
      latest_completed_ = std::max(latest_completed_, txns_[open_[i]].xid);
      open_.erase(open_.begin() + i);
    }
  }

  void finish_all() {
    for (auto i : open_) {
      txns_[i].state = Txn::kCommitted;
      latest_completed_ = std::max(latest_completed_, txns_[i].xid);
    }
    open_.clear();
  }

  // Runs the fetch query of src/extension/fetch.cpp against the model.
  std::vector<FetchedRow> fetch(const CursorState& c, int max_rows, SnapshotView* s) const {
    // As PostgreSQL takes it: xmax is latestCompletedXid + 1, so open
    // transactions with later xids are not in xip.
    s->xmax = latest_completed_ + 1;
    s->xmin = s->xmax;
    s->next_xid = next_xid_;
    s->xip.clear();
    for (auto i : open_) {
      if (txns_[i].xid < s->xmax) s->xip.push_back(txns_[i].xid);
      s->xmin = std::min(s->xmin, txns_[i].xid);
    }
    std::sort(s->xip.begin(), s->xip.end());
    std::vector<FetchedRow> rows;
    for (const auto& t : txns_) {
      if (t.state != Txn::kCommitted) continue;
      const PendingXid* p = nullptr;
      for (const auto& q : c.pending)
        if (q.xid == t.xid) p = &q;
      for (auto seq : t.seqs)
        if (seq > c.watermark || (p != nullptr && seq > p->from_seq)) rows.push_back({seq, t.xid});
    }
    std::sort(rows.begin(), rows.end(), [](const FetchedRow& a, const FetchedRow& b) { return a.seq < b.seq; });
    if (static_cast<int>(rows.size()) > max_rows) rows.resize(max_rows);
    return rows;
  }

  std::set<std::int64_t> committed() const {
    std::set<std::int64_t> out;
    for (const auto& t : txns_)
      if (t.state == Txn::kCommitted) out.insert(t.seqs.begin(), t.seqs.end());
    return out;
  }

  std::size_t pick(std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng_); }

 private:
  std::mt19937 rng_;
  std::uint64_t next_xid_ = 100;
  std::uint64_t latest_completed_ = 99;
  std::int64_t next_seq_ = 1;
  std::vector<Txn> txns_;
  std::vector<std::size_t> open_;
};

TEST(Advance, RandomInterleavingsLoseNothingAndDuplicateNothing) {
  for (unsigned seed = 1; seed <= 300; ++seed) {
    Model m(seed);
    CursorState cursor;
    std::map<std::int64_t, int> delivered;
    auto read_once = [&](int max_rows) {
      SnapshotView s;
      auto rows = m.fetch(cursor, max_rows, &s);
      for (const auto& r : rows) delivered[r.seq]++;
      cursor = advance_cursor(cursor, s, rows, static_cast<int>(rows.size()) == max_rows);
      // The cursor survives its text form.
      cursor = *parse_cursor(format_cursor(cursor));
      return rows.size();
    };
    for (int i = 0; i < 400; ++i) {
      m.step();
      if (m.pick(0, 3) == 0) read_once(static_cast<int>(m.pick(1, 5)));
    }
    m.finish_all();
    while (read_once(static_cast<int>(m.pick(1, 5))) > 0) {
    }
    auto committed = m.committed();
    for (auto seq : committed) ASSERT_EQ(delivered[seq], 1) << "seed " << seed << " seq " << seq;
    for (const auto& [seq, n] : delivered) ASSERT_TRUE(committed.count(seq)) << "seed " << seed << " aborted " << seq;
    EXPECT_TRUE(cursor.pending.empty()) << "seed " << seed;
  }
}

}  // namespace
}  // namespace intentlog
