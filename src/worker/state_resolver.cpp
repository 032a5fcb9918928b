#include "worker/state_resolver.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace intentlog {
namespace {

// pg_type OIDs of the state column types state_query may return.
constexpr pqxx::oid kByteaOid = 17;
constexpr pqxx::oid kJsonOid = 114;
constexpr pqxx::oid kJsonbOid = 3802;

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Whether a key=value conninfo sets `keyword`, following libpq's
// conninfo_parse: keyword, optional blanks, '=', optional blanks, then a
// value, bare up to a blank or single-quoted, with backslash escapes in both.
// Nothing when it does not parse.
std::optional<bool> keyword_conninfo_sets(const std::string& s, const std::string& keyword) {
  bool found = false;
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (true) {
    while (i < n && is_space(s[i])) ++i;
    if (i >= n) return found;  // past n: a trailing backslash escaped nothing
    const std::size_t start = i;
    while (i < n && s[i] != '=' && !is_space(s[i])) ++i;
    const std::string key = s.substr(start, i - start);
    while (i < n && is_space(s[i])) ++i;
    if (key.empty() || i == n || s[i] != '=') return std::nullopt;
    ++i;
    while (i < n && is_space(s[i])) ++i;
    if (i < n && s[i] == '\'') {
      ++i;
      while (i < n && s[i] != '\'') i += s[i] == '\\' ? 2 : 1;
      if (i >= n) return std::nullopt;  // unterminated quote
      ++i;
    } else {
      while (i < n && !is_space(s[i])) i += s[i] == '\\' ? 2 : 1;
    }
    found = found || key == keyword;
  }
}

}  // namespace

bool is_connection_failure(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
}

std::string with_connect_timeout(const std::string& conninfo, int seconds) {
  const std::string param = "connect_timeout=" + std::to_string(seconds);
  if (conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0) {
    const std::size_t query = conninfo.find('?');
    if (query == std::string::npos) return conninfo + "?" + param;
    std::size_t i = query + 1;
    while (i <= conninfo.size()) {
      const std::size_t amp = std::min(conninfo.find('&', i), conninfo.size());
      const std::string name = conninfo.substr(i, std::min(conninfo.find('=', i), amp) - i);
      if (name == "connect_timeout") return conninfo;
      i = amp + 1;
    }
    const char last = conninfo.back();
    return conninfo + (last == '?' || last == '&' ? "" : "&") + param;
  }
  const std::optional<bool> sets = keyword_conninfo_sets(conninfo, "connect_timeout");
  if (!sets || *sets) return conninfo;
  return conninfo + " " + param;
}

bool recent_enough(const StateRead& read, std::optional<std::int64_t> expected) {
  if (!expected) return true;
  return read.found && read.version >= *expected;
}

std::chrono::milliseconds next_read_delay(std::uint32_t reads) {
  const std::uint32_t shift = std::min<std::uint32_t>(reads > 0 ? reads - 1 : 0, 6);
  return std::min(std::chrono::milliseconds(10) * (1 << shift), std::chrono::milliseconds(500));
}

StateRead read_state(pqxx::connection& conn, const std::string& state_query, const std::string& key,
                     std::chrono::milliseconds statement_timeout) {
  // READ ONLY: the query is configuration, but it must never write (and it
  // could not on a standby anyway, so both reads behave alike).
  pqxx::read_transaction tx(conn);
  tx.exec("SET LOCAL statement_timeout = " + std::to_string(std::max<std::int64_t>(1, statement_timeout.count())));
  const pqxx::result r = tx.exec_params(state_query, key);
  StateRead out;
  if (r.columns() != 2) {
    throw std::invalid_argument("state_query must return two columns (version bigint, state bytea or jsonb), got " +
                                std::to_string(r.columns()));
  }
  const pqxx::oid type = r.column_type(1);
  if (type != kByteaOid && type != kJsonOid && type != kJsonbOid) {
    throw std::invalid_argument("state_query's second column must be bytea, json or jsonb (type oid " +
                                std::to_string(type) + ")");
  }
  if (r.size() > 1) {
    throw std::invalid_argument("state_query returned " + std::to_string(r.size()) + " rows for one key");
  }
  if (r.empty() || r[0][0].is_null()) return out;
  out.found = true;
  out.version = r[0][0].as<std::int64_t>();
  out.json = type != kByteaOid;
  if (!r[0][1].is_null()) out.value = out.json ? r[0][1].as<std::string>() : tx.unesc_raw(r[0][1].c_str());
  tx.commit();
  return out;
}

v1::State to_state(const StateRead& read, v1::StateSource source) {
  v1::State s;
  s.set_source(source);
  if (read.found) {
    s.set_version(read.version);
    if (read.json) {
      s.set_json(read.value);
    } else {
      s.set_bytes(read.value);
    }
  }
  return s;
}

Resolution resolve_once(pqxx::connection* standby, pqxx::connection& primary, const std::string& state_query,
                        const std::string& key, std::optional<std::int64_t> expected,
                        std::chrono::milliseconds statement_timeout) {
  Resolution res;
  if (standby) {
    try {
      ++res.reads;
      const StateRead r = read_state(*standby, state_query, key, statement_timeout);
      res.standby = StandbyOutcome::kReached;
      if (recent_enough(r, expected)) {
        res.status = Resolution::Status::kResolved;
        res.state = to_state(r, v1::STATE_SOURCE_STANDBY);
        res.state.set_reads(res.reads);
        return res;
      }
    } catch (const std::invalid_argument& e) {
      res.standby = StandbyOutcome::kReached;
      res.status = Resolution::Status::kFailed;
      res.error = e.what();
      return res;
    } catch (const pqxx::broken_connection& e) {
      res.standby = StandbyOutcome::kConnectionFailed;
      res.standby_error = e.what();
    } catch (const pqxx::in_doubt_error& e) {
      // The connection broke during the read-only transaction's COMMIT.
      res.standby = StandbyOutcome::kConnectionFailed;
      res.standby_error = e.what();
    } catch (const pqxx::sql_error& e) {
      // A query error would fail on the primary too: say it once, from there.
      res.standby = is_connection_failure(e.sqlstate()) ? StandbyOutcome::kConnectionFailed : StandbyOutcome::kReached;
      res.standby_error = e.what();
    }
  }
  StateRead r;
  try {
    ++res.reads;
    r = read_state(primary, state_query, key, statement_timeout);
  } catch (const std::invalid_argument& e) {
    res.status = Resolution::Status::kFailed;
    res.error = e.what();
    return res;
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (const pqxx::sql_error& e) {
    res.status = Resolution::Status::kFailed;
    res.error = std::string("state_query failed: ") + e.what();
    return res;
  }
  if (recent_enough(r, expected)) {
    res.status = Resolution::Status::kResolved;
    res.state = to_state(r, v1::STATE_SOURCE_PRIMARY);
    res.state.set_reads(res.reads);
    return res;
  }
  res.status = Resolution::Status::kNotYet;
  res.error = r.found ? "state version " + std::to_string(r.version) + " is older than expected_version " +
                            std::to_string(*expected)
                      : "no state for the key yet (expected_version " + std::to_string(*expected) + ")";
  return res;
}

std::chrono::milliseconds standby_backoff(std::uint32_t failures, double jitter, const StandbyBackoffOptions& o) {
  // Doubling stops at the cap; the shift is bounded so it cannot overflow.
  std::chrono::milliseconds full = o.base;
  for (std::uint32_t i = 1; i < failures && full < o.max && full.count() > 0; ++i) full *= 2;
  full = std::min(full, o.max);
  const double j = std::clamp(jitter, 0.0, 1.0);
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(static_cast<double>(full.count()) * (0.5 + 0.5 * j) + 0.5));
}

StandbyBackoff::StandbyBackoff(Options options, std::uint64_t seed) : options_(options), rng_(seed) {}

StandbyBackoff::Ticket StandbyBackoff::acquire(Clock::time_point now) {
  if (!down_) return Ticket{true, false, epoch_};
  if (probing_ || now < retry_at_) return Ticket{false, false, epoch_};
  probing_ = true;
  return Ticket{true, true, epoch_};
}

StandbyBackoff::Change StandbyBackoff::reached(const Ticket& t) {
  if (!t.use || t.epoch != epoch_) return Change::kNone;
  if (t.probe) probing_ = false;
  failures_ = 0;
  if (!down_) return Change::kNone;
  down_ = false;
  return Change::kUp;
}

StandbyBackoff::Change StandbyBackoff::failed(const Ticket& t, Clock::time_point now) {
  if (!t.use || t.epoch != epoch_) return Change::kNone;
  if (t.probe) probing_ = false;
  ++failures_;
  ++epoch_;
  retry_in_ = standby_backoff(failures_, std::uniform_real_distribution<double>(0.0, 1.0)(rng_), options_);
  retry_at_ = now + retry_in_;
  if (down_) return Change::kNone;
  down_ = true;
  down_since_ = now;
  return Change::kDown;
}

void StandbyBackoff::abandoned(const Ticket& t) {
  if (t.probe && t.epoch == epoch_) probing_ = false;
}

}  // namespace intentlog
