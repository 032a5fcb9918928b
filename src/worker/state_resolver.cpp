#include "worker/state_resolver.h"

#include <algorithm>
#include <stdexcept>

namespace intentlog {
namespace {

// pg_type OIDs of the state column types state_query may return.
constexpr pqxx::oid kByteaOid = 17;
constexpr pqxx::oid kJsonOid = 114;
constexpr pqxx::oid kJsonbOid = 3802;

}  // namespace

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
      if (recent_enough(r, expected)) {
        res.status = Resolution::Status::kResolved;
        res.state = to_state(r, v1::STATE_SOURCE_STANDBY);
        res.state.set_reads(res.reads);
        return res;
      }
    } catch (const std::invalid_argument& e) {
      res.status = Resolution::Status::kFailed;
      res.error = e.what();
      return res;
    } catch (const pqxx::broken_connection& e) {
      res.standby_error = e.what();
    } catch (const pqxx::sql_error& e) {
      // A query error would fail on the primary too: say it once, from there.
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

}  // namespace intentlog
