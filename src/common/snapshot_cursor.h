// SnapshotCursor: the arithmetic of the lossless read path (docs/DESIGN.md, "Read
// path: the snapshot cursor"), free of PostgreSQL so it can be unit tested.
//
// A cursor is (watermark W, pending xids P). Every append takes its
// transaction's xid before its seq, so at the snapshot S that set W, any seq
// <= W belongs to a transaction that S shows committed (read), aborted (never
// delivered) or in progress (in P). A fetch therefore reads
//
//     rows with seq > W                                   (the new tail)
//   + rows of pending xid X with from(X) < seq <= W       (late committers)
//
// ordered by seq, at most `max` of them, all visible in one snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace intentlog {

struct PendingXid {
  std::uint64_t xid = 0;      // full (epoch-extended) top-level transaction id
  std::int64_t from_seq = 0;  // rows of xid at or below this seq were already read
  bool operator==(const PendingXid& o) const { return xid == o.xid && from_seq == o.from_seq; }
};

struct CursorState {
  std::int64_t watermark = 0;
  std::vector<PendingXid> pending;  // sorted by xid, no duplicates
  bool operator==(const CursorState& o) const { return watermark == o.watermark && pending == o.pending; }
};

// Text form, stored in intentlog.cursors and passed between fetches:
//   "W"  or  "W;xid:from,xid:from"   (decimal; xids ascending)
std::string format_cursor(const CursorState& c);
std::optional<CursorState> parse_cursor(std::string_view text);

// The snapshot a fetch ran in, with full xids: xid X is in progress in it iff
// X >= xmax, or X is in xip (xip holds only top-level xids >= xmin).
struct SnapshotView {
  std::uint64_t xmin = 0;
  std::uint64_t xmax = 0;
  std::vector<std::uint64_t> xip;  // sorted
  // The next xid to be assigned, read right after the snapshot. xids in
  // [xmax, next_xid) are invisible to the snapshot but not in xip (xmax is
  // latestCompletedXid + 1), and one of them may hold a seq below a visible
  // one: they become pending too. Later xids take seqs above anything visible.
  std::uint64_t next_xid = 0;
  // The reader's own xids in that range (its top-level xid and
  // subtransactions, sorted): its rows are visible to it, never pending.
  std::vector<std::uint64_t> own_xids;
  bool in_progress(std::uint64_t xid) const;
};

// Whether `xid` is in progress in a snapshot of xmin, xmax and its nxip
// top-level xids (sorted): SnapshotView::in_progress, for callers that hold
// the snapshot in plain arrays (the extension, between PostgreSQL calls).
bool xid_in_progress(std::uint64_t xmin, std::uint64_t xmax, const std::uint64_t* xip, std::size_t nxip,
                     std::uint64_t xid) noexcept;

struct FetchedRow {
  std::int64_t seq = 0;
  std::uint64_t xid = 0;
};

// The cursor after a fetch in snapshot `snap` returned `rows` (ascending seq).
// `cut` says the fetch stopped at its row limit, so rows above the last seq
// may remain unread. `last_seq`, when not negative, is the last seq the
// partition handed out, read before `snap` was taken, for a reader of only
// part of the partition (the staged promoter reads the hot table; rows
// written straight to a segment are not its business): not cut, the cursor
// moves up to it, since every seq at or below it belongs to a transaction
// `snap` shows finished (its rows in this relation were returned) or in
// progress (pending).
CursorState advance_cursor(const CursorState& before, const SnapshotView& snap, const std::vector<FetchedRow>& rows,
                           bool cut, std::int64_t last_seq = -1);

// The xids `snap` shows in progress that may hold seqs, ascending: xip and
// [xmax, next_xid), without the reader's own.
std::vector<std::uint64_t> pending_candidates(const SnapshotView& snap);

// The cursor at the end of a partition: `last_seq` is the last seq handed out,
// read before `snap` was taken, so a transaction holding a seq at or below it
// had its xid already and `snap` shows it committed (its rows are behind
// the cursor), aborted, or in progress (pending from 0: its seqs may be
// anywhere).
CursorState latest_cursor(std::int64_t last_seq, const SnapshotView& snap);

// Lowest seq the cursor may still have to read; everything at or below it was
// delivered or never committed. Used for lag views and retention.
std::int64_t safe_seq(const CursorState& c);

}  // namespace intentlog
