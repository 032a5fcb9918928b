// StateResolver: progressive consistency reads (docs/DESIGN.md, "Smart consumer").
//
// A domain's state_query ($1 = key; returns version bigint and state bytea
// or jsonb) is read from the standby first: it is cheap and takes load off
// the primary. If the standby's version is older than the intent's
// expected_version (the standby lags), the primary is read. If the primary's
// version is older too, the writer's transaction has not made the state
// current yet (the intent was written ahead of it): the caller backs off and
// reads again (next_read_delay) until the domain's consistency_timeout, and
// then treats the delivery as failed (the SQL retry path).
//
// A standby that cannot be connected to is left alone for a while
// (StandbyBackoff): the reads go to the primary meanwhile, and a connect
// attempt is bounded (with_connect_timeout), so a standby that is down costs
// one failed attempt per back-off period, not one per intent.
//
// The decisions are plain C++ (recent_enough, next_read_delay,
// StandbyBackoff, is_connection_failure, with_connect_timeout); read_state
// and resolve_once do the libpqxx calls, each in a READ ONLY transaction with
// a statement timeout, so a state_query can neither write nor hang a thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <string>

#include "intentlog/v1/event.pb.h"

namespace intentlog {

// What one read of state_query returned.
struct StateRead {
  bool found = false;  // a row came back
  std::int64_t version = 0;
  std::string value;  // bytea bytes, or json text
  bool json = false;
};

// Whether a read may be delivered with an intent expecting `expected`:
// without an expected_version any read is (even no row: the state is then
// absent); with one, only a row at that version or later.
bool recent_enough(const StateRead& read, std::optional<std::int64_t> expected);

// Delay before read number `reads + 1` of the back-off loop: 10 ms doubling,
// at most 500 ms, so a state committed just after its intent is picked up
// quickly and a stuck one costs two reads a second.
std::chrono::milliseconds next_read_delay(std::uint32_t reads);

// Runs state_query for `key` on `conn`. Throws std::invalid_argument when the
// result has the wrong shape (a configuration error), pqxx errors otherwise.
StateRead read_state(pqxx::connection& conn, const std::string& state_query, const std::string& key,
                     std::chrono::milliseconds statement_timeout);

// Whether an error SQLSTATE means the connection is gone rather than that
// the query failed: class 08 (connection exception) and the server shutting
// down, crashed or not yet accepting connections (57P01, 57P02, 57P03).
bool is_connection_failure(const std::string& sqlstate);

// The bound on a connect to the standby when the user sets none.
constexpr int kStandbyConnectTimeoutSeconds = 2;

// `conninfo` (key=value or URI form) with connect_timeout=`seconds` added
// when it sets none, so a connect to a standby that does not answer is
// bounded. Unchanged when it sets one, or when it cannot be parsed (the
// connect then reports what is wrong with it).
std::string with_connect_timeout(const std::string& conninfo, int seconds);

// How the standby was, as one read found it.
enum class StandbyOutcome {
  kNotRead,           // not asked (none configured, or it is down and backing off)
  kReached,           // it answered: rows, a lagging version or a query error
  kConnectionFailed,  // could not connect, or the connection broke
};

struct Resolution {
  enum class Status {
    kResolved,  // `state` is recent enough: deliver with it
    kNotYet,    // even the primary is older than expected_version: back off and read again
    kFailed,    // the query failed or returned the wrong shape: a failed delivery
  };
  Status status = Status::kFailed;
  v1::State state;            // kResolved
  std::string error;          // kFailed; kNotYet: what was read
  std::string standby_error;  // the standby could not be read (fell back to the primary)
  StandbyOutcome standby = StandbyOutcome::kNotRead;
  std::uint32_t reads = 0;  // reads made by this call (1 or 2)
};

// One round: the standby (when given), then the primary if needed.
// `standby` may be null (no --replica, or it is down). A standby that fails is
// reported in standby_error (and `standby` says whether the connection was
// lost) and the primary is read instead: a lagging or broken standby costs
// latency, never correctness. Primary connection errors propagate.
Resolution resolve_once(pqxx::connection* standby, pqxx::connection& primary, const std::string& state_query,
                        const std::string& key, std::optional<std::int64_t> expected,
                        std::chrono::milliseconds statement_timeout);

// The proto State for a read.
v1::State to_state(const StateRead& read, v1::StateSource source);

// StandbyBackoff's delays (see standby_backoff).
struct StandbyBackoffOptions {
  std::chrono::milliseconds base{100};  // after the first failure
  std::chrono::milliseconds max{10000};
};

// StandbyBackoff: whether a read goes to the standby, given how the standby's
// connections went. A connection failure marks it down: reads go to the
// primary for a back-off that doubles with each consecutive failure (base up
// to max, jittered), then one read (the probe) tries the standby while the
// others still read the primary. A probe that reaches it marks it up and
// resets the back-off; one that fails keeps it down for the next, longer
// back-off. A query error is not a connection failure: the standby answered.
//
// Reads run concurrently (one per DbPool thread), so each carries the epoch
// it started in; every failure starts a new epoch. An outcome from an older
// epoch says nothing new (those reads were under way when the failure was
// seen) and is ignored: one outage is one failure and one transition,
// however many reads were in flight. Not thread-safe: StateReads calls
// it from the event loop only.
class StandbyBackoff {
 public:
  using Clock = std::chrono::steady_clock;

  using Options = StandbyBackoffOptions;

  // One read's permission. `use`: read the standby; `probe`: the one read
  // that tries it after a back-off.
  struct Ticket {
    bool use = false;
    bool probe = false;
    std::uint64_t epoch = 0;
  };

  enum class Change { kNone, kDown, kUp };

  explicit StandbyBackoff(Options options = {}, std::uint64_t seed = std::random_device{}());

  Ticket acquire(Clock::time_point now);
  // The read reached the standby: kUp if that ends an outage.
  Change reached(const Ticket& t);
  // The read could not connect or lost its connection: kDown if that starts
  // an outage (a failed probe only lengthens the back-off).
  Change failed(const Ticket& t, Clock::time_point now);
  // The read ended without a word on the standby (the primary failed first):
  // a probe may be made again at once.
  void abandoned(const Ticket& t);

  bool down() const { return down_; }
  std::uint32_t failures() const { return failures_; }              // consecutive
  std::chrono::milliseconds retry_in() const { return retry_in_; }  // the back-off chosen last
  Clock::time_point down_since() const { return down_since_; }
  std::uint64_t epoch() const { return epoch_; }

 private:
  Options options_;
  std::mt19937_64 rng_;
  bool down_ = false;
  bool probing_ = false;
  std::uint32_t failures_ = 0;
  std::uint64_t epoch_ = 0;
  std::chrono::milliseconds retry_in_{0};
  Clock::time_point retry_at_{};
  Clock::time_point down_since_{};
};

// The back-off after `failures` (>= 1) consecutive connection failures:
// base * 2^(failures - 1), at most max, scaled into its upper half by
// `jitter` in [0, 1] (0: half of it, 1: all of it), so that workers that lost
// the standby together do not probe it in step.
std::chrono::milliseconds standby_backoff(std::uint32_t failures, double jitter, const StandbyBackoffOptions& o);

}  // namespace intentlog
