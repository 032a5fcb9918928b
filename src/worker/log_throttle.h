// LogThrottle: at most one log line per interval for an event that an
// attacker or a broken environment can repeat at will (accept failing for
// want of descriptors, failed authentications). The line that is logged says
// how many were left out before it, so nothing is hidden, only folded.
#pragma once

#include <chrono>
#include <cstdint>

namespace intentlog {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogThrottle(Clock::duration interval) : interval_(interval) {}

  // True when this occurrence is to be logged; *suppressed is then the count
  // of occurrences not logged since the previous logged one.
  bool allow(Clock::time_point now, std::uint64_t* suppressed) {
    if (logged_once_ && now - last_ < interval_) {
      ++suppressed_;
      return false;
    }
    logged_once_ = true;
    last_ = now;
    *suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

  // Occurrences not logged since the last logged one.
  std::uint64_t pending() const { return suppressed_; }

 private:
  Clock::duration interval_;
  Clock::time_point last_{};
  bool logged_once_ = false;
  std::uint64_t suppressed_ = 0;
};

}  // namespace intentlog
