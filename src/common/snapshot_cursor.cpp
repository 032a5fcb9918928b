#include "common/snapshot_cursor.h"

#include <algorithm>
#include <charconv>

#include "common/cpp_only.h"  // last: see there

namespace intentlog {
namespace {

template <typename T>
bool parse_number(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

std::string format_cursor(const CursorState& c) {
  std::string out = std::to_string(c.watermark);
  for (std::size_t i = 0; i < c.pending.size(); ++i) {
    out += (i == 0) ? ';' : ',';
    out += std::to_string(c.pending[i].xid);
    out += ':';
    out += std::to_string(c.pending[i].from_seq);
  }
  return out;
}

std::optional<CursorState> parse_cursor(std::string_view text) {
  CursorState c;
  auto semi = text.find(';');
  if (!parse_number(text.substr(0, semi), &c.watermark) || c.watermark < 0) return std::nullopt;
  if (semi == std::string_view::npos) return c;
  std::string_view rest = text.substr(semi + 1);
  while (true) {
    auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    auto colon = item.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    PendingXid p;
    if (!parse_number(item.substr(0, colon), &p.xid) || !parse_number(item.substr(colon + 1), &p.from_seq) ||
        p.from_seq < 0)
      return std::nullopt;
    if (!c.pending.empty() && c.pending.back().xid >= p.xid) return std::nullopt;  // ascending, unique
    c.pending.push_back(p);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return c;
}

bool xid_in_progress(std::uint64_t xmin, std::uint64_t xmax, const std::uint64_t* xip, std::size_t nxip,
                     std::uint64_t xid) noexcept {
  if (xid >= xmax) return true;
  if (xid < xmin) return false;
  return std::binary_search(xip, xip + nxip, xid);
}

bool SnapshotView::in_progress(std::uint64_t xid) const {
  return xid_in_progress(xmin, xmax, xip.data(), xip.size(), xid);
}

CursorState advance_cursor(const CursorState& before, const SnapshotView& snap, const std::vector<FetchedRow>& rows,
                           bool cut, std::int64_t last_seq) {
  CursorState next;
  const std::int64_t last = rows.empty() ? before.watermark : rows.back().seq;
  std::int64_t top = std::max(before.watermark, last_seq);
  for (const auto& r : rows) top = std::max(top, r.seq);
  // Cut at `last`: everything qualifying at or below it was returned, nothing
  // above it is known read. Not cut: every visible row above W was returned.
  next.watermark = cut ? std::max(before.watermark, last) : top;

  for (const auto& p : before.pending) {
    if (snap.in_progress(p.xid)) {
      next.pending.push_back(p);
      continue;
    }
    // Finished (committed or aborted): its visible rows were in this fetch,
    // up to `last` when cut. Keep it only while some of its rows may still
    // lie at or below the watermark, where the tail condition won't see them.
    if (!cut) continue;
    std::int64_t from = std::max(p.from_seq, last);
    if (from < next.watermark) next.pending.push_back(PendingXid{p.xid, from});
  }

  if (next.watermark > before.watermark) {
    // Transactions S shows in progress may hold seqs below the new watermark.
    // Ones that started after S take seqs above any row visible in S.
    auto add = [&](std::uint64_t x) {
      auto it = std::lower_bound(next.pending.begin(), next.pending.end(), x,
                                 [](const PendingXid& p, std::uint64_t v) { return p.xid < v; });
      if (it != next.pending.end() && it->xid == x) return;
      next.pending.insert(it, PendingXid{x, before.watermark});
    };
    for (std::uint64_t x : pending_candidates(snap)) add(x);
  }
  return next;
}

std::vector<std::uint64_t> pending_candidates(const SnapshotView& snap) {
  std::vector<std::uint64_t> out(snap.xip.begin(), snap.xip.end());
  for (std::uint64_t x = snap.xmax; x < snap.next_xid; ++x)
    if (!std::binary_search(snap.own_xids.begin(), snap.own_xids.end(), x)) out.push_back(x);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

CursorState latest_cursor(std::int64_t last_seq, const SnapshotView& snap) {
  CursorState c;
  c.watermark = last_seq;
  for (std::uint64_t x : pending_candidates(snap)) c.pending.push_back(PendingXid{x, 0});
  return c;
}

std::int64_t safe_seq(const CursorState& c) {
  std::int64_t s = c.watermark;
  for (const auto& p : c.pending) s = std::min(s, p.from_seq);
  return s;
}

}  // namespace intentlog
