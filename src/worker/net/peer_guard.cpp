#include "worker/net/peer_guard.h"

#include <algorithm>

namespace intentlog {

PeerGuard::Peer& PeerGuard::peer(const std::string& key) {
  auto it = peers_.find(key);
  if (it != peers_.end()) return it->second;
  if (peers_.size() >= limits_.max_peers) forget_idle();
  return peers_.emplace(key, Peer(limits_)).first->second;
}

// A peer with no connection open is dropped with its failure history: the
// price of a bounded table when more than max_peers addresses are in play.
void PeerGuard::forget_idle() {
  for (auto it = peers_.begin(); it != peers_.end();) {
    it = it->second.unauthenticated == 0 ? peers_.erase(it) : std::next(it);
  }
}

void PeerGuard::refill(Peer& p, Clock::time_point now) const {
  const double burst = static_cast<double>(limits_.auth_burst);
  if (p.refilled_at != Clock::time_point{} && p.budget < burst) {
    const double periods =
        std::chrono::duration<double>(now - p.refilled_at) / std::chrono::duration<double>(limits_.auth_refill);
    p.budget = std::min(burst, p.budget + periods);
  }
  p.refilled_at = now;
}

bool PeerGuard::open(const std::string& key) {
  Peer& p = peer(key);
  if (p.unauthenticated >= limits_.max_unauthenticated) return false;
  ++p.unauthenticated;
  return true;
}

void PeerGuard::settled(const std::string& key) {
  auto it = peers_.find(key);
  if (it == peers_.end() || it->second.unauthenticated == 0) return;
  --it->second.unauthenticated;
}

bool PeerGuard::may_authenticate(const std::string& key, Clock::time_point now) {
  Peer& p = peer(key);
  refill(p, now);
  return p.budget >= 1.0;
}

bool PeerGuard::failed(const std::string& key, Clock::time_point now, std::uint64_t* suppressed) {
  Peer& p = peer(key);
  refill(p, now);
  if (p.budget >= 1.0) p.budget -= 1.0;  // a throttled try costs nothing: one per refill period gets through
  return p.auth_log.allow(now, suppressed);
}

bool PeerGuard::may_log(const std::string& key, Clock::time_point now, std::uint64_t* suppressed) {
  return peer(key).error_log.allow(now, suppressed);
}

std::size_t PeerGuard::unauthenticated(const std::string& key) const {
  auto it = peers_.find(key);
  return it == peers_.end() ? 0 : it->second.unauthenticated;
}

}  // namespace intentlog
