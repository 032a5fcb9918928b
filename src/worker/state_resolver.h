// StateResolver: progressive consistency reads (DESIGN.md, "Smart consumer").
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
// The decision is plain C++ (recent_enough, next_read_delay); read_state and
// resolve_once do the libpqxx calls, each in a READ ONLY transaction with a
// statement timeout, so a state_query can neither write nor hang a thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
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
  std::uint32_t reads = 0;    // reads made by this call (1 or 2)
};

// One round: the standby (when given), then the primary if needed.
// `standby` may be null (no --replica). A standby that fails is reported in
// standby_error and the primary is read instead: a lagging or broken standby
// costs latency, never correctness. Primary connection errors propagate.
Resolution resolve_once(pqxx::connection* standby, pqxx::connection& primary, const std::string& state_query,
                        const std::string& key, std::optional<std::int64_t> expected,
                        std::chrono::milliseconds statement_timeout);

// The proto State for a read.
v1::State to_state(const StateRead& read, v1::StateSource source);

}  // namespace intentlog
