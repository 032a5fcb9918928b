// PeerGuard: what one peer may cost the worker before it has authenticated.
// A peer is a TCP client's IP address (any port) or a Unix client's uid.
//
// - Connections that have not yet sent an accepted Hello are bounded per
//   peer (their time is bounded by the Session's Hello deadline), so a
//   client opening sockets and saying nothing cannot take every descriptor.
// - Failed authentications are rate-limited per peer with a token bucket: a
//   burst, then one try per refill period; a peer over it gets
//   ERROR_UNAUTHENTICATED without its token being looked at.
// - Failures, and errors of connections before Hello, are logged once per
//   burst (LogThrottle per peer).
// Memory is bounded: at most max_peers peers are tracked; beyond that, peers
// with no connection open are forgotten (their failure history with them).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "worker/log_throttle.h"

namespace intentlog {

class PeerGuard {
 public:
  using Clock = std::chrono::steady_clock;

  struct Limits {
    std::size_t max_unauthenticated = 64;                   // connections per peer before Hello
    std::size_t auth_burst = 10;                            // failed authentications before throttling
    Clock::duration auth_refill = std::chrono::seconds(1);  // one more try per this
    Clock::duration log_interval = std::chrono::seconds(10);
    std::size_t max_peers = 4096;
  };

  explicit PeerGuard(Limits limits) : limits_(limits) {}

  // A connection from `peer` was accepted. False: the peer already has
  // max_unauthenticated connections that said no Hello; close this one.
  bool open(const std::string& peer);
  // The connection's Hello was accepted, or it closed before that: it no
  // longer counts against max_unauthenticated. Once per successful open().
  void settled(const std::string& peer);

  // False while the peer is over its failure budget (now: token bucket).
  bool may_authenticate(const std::string& peer, Clock::time_point now);
  // Records a failed authentication. True when it is to be logged;
  // *suppressed: failures of this peer not logged since the last logged one.
  bool failed(const std::string& peer, Clock::time_point now, std::uint64_t* suppressed);

  // Whether an error of an unauthenticated connection of `peer` (a bad
  // frame, no Hello in time) is to be logged: once per log_interval per peer.
  bool may_log(const std::string& peer, Clock::time_point now, std::uint64_t* suppressed);

  std::size_t unauthenticated(const std::string& peer) const;
  std::size_t tracked_peers() const { return peers_.size(); }

 private:
  struct Peer {
    std::size_t unauthenticated = 0;
    double budget = 0;  // tries left; refilled over time up to auth_burst
    Clock::time_point refilled_at{};
    LogThrottle auth_log;
    LogThrottle error_log;
    explicit Peer(const Limits& l)
        : budget(static_cast<double>(l.auth_burst)), auth_log(l.log_interval), error_log(l.log_interval) {}
  };
  Peer& peer(const std::string& key);
  void refill(Peer& p, Clock::time_point now) const;
  void forget_idle();

  Limits limits_;
  std::unordered_map<std::string, Peer> peers_;
};

}  // namespace intentlog
