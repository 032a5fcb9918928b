#include "worker/delivery_store.h"

#include "worker/store.h"

namespace intentlog {

std::string bigint_array_literal(const std::vector<std::int64_t>& v) {
  std::string s = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "}";
}

namespace {

// Double-quoted, with '"' and '\' escaped: any text survives, including
// empty strings, commas, braces and the word NULL.
void append_quoted(std::string& s, const std::string& v) {
  s += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') s += '\\';
    s += c;
  }
  s += '"';
}

}  // namespace

std::string text_array_literal(const std::vector<std::string>& v) {
  std::string s = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    append_quoted(s, v[i]);
  }
  return s + "}";
}

std::string nullable_text_array_literal(const std::vector<std::optional<std::string>>& v) {
  std::string s = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    if (v[i]) {
      append_quoted(s, *v[i]);
    } else {
      s += "NULL";
    }
  }
  return s + "}";
}

std::map<std::string, DeliverySettings> load_delivery_settings(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  std::map<std::string, DeliverySettings> out;
  for (const auto& r :
       tx.exec("SELECT name, coalesce(state_query, ''), (extract(epoch FROM consistency_timeout) * 1000)::int8"
               " FROM intentlog.domains")) {
    DeliverySettings s;
    s.state_query = r[1].as<std::string>();
    s.consistency_timeout = std::chrono::milliseconds(r[2].as<std::int64_t>());
    out.emplace(r[0].as<std::string>(), std::move(s));
  }
  return out;
}

std::unordered_set<std::int64_t> park(pqxx::connection& conn, const std::string& group, const std::string& domain,
                                      int partition, const std::vector<const v1::Event*>& events) {
  std::vector<std::int64_t> seqs;
  std::vector<std::string> keys;
  seqs.reserve(events.size());
  keys.reserve(events.size());
  for (const v1::Event* e : events) {
    seqs.push_back(e->seq());
    keys.push_back(e->key());
  }
  pqxx::nontransaction tx(conn);
  std::unordered_set<std::int64_t> held;
  for (const auto& r : tx.exec_params("SELECT seq FROM intentlog.park($1, $2, $3, $4::bigint[], $5::text[])", group,
                                      domain, partition, bigint_array_literal(seqs), text_array_literal(keys))) {
    held.insert(r[0].as<std::int64_t>());
  }
  return held;
}

FailureOutcome record_failure(pqxx::connection& conn, const std::string& group, const std::string& domain,
                              int partition, std::int64_t seq, const std::string& error, std::uint32_t attempt,
                              const std::vector<std::int64_t>& followers) {
  pqxx::nontransaction tx(conn);
  const pqxx::row r = tx.exec_params1(
      "SELECT outcome, failed_attempts, dead_letter_id"
      " FROM intentlog.record_failure($1, $2, $3, $4, $5, $6, $7::bigint[])",
      group, domain, partition, seq, error, attempt ? std::optional<int>(static_cast<int>(attempt)) : std::nullopt,
      bigint_array_literal(followers));
  FailureOutcome out;
  out.outcome = r[0].as<std::string>();
  out.failed_attempts = r[1].is_null() ? 0 : r[1].as<int>();
  if (!r[2].is_null()) out.dead_letter_id = r[2].as<std::int64_t>();
  return out;
}

const char kGroupsWithRetriesSql[] =
    "SELECT w.g, w.d FROM unnest($1::text[], $2::text[]) AS w(g, d) JOIN intentlog.domains x ON x.name = w.d"
    " WHERE EXISTS (SELECT 1 FROM intentlog.retries r WHERE r.group_name = w.g AND r.domain_id = x.domain_id)"
    "    OR EXISTS (SELECT 1 FROM intentlog.parked r WHERE r.group_name = w.g AND r.domain_id = x.domain_id)";

std::vector<std::pair<std::string, std::string>> groups_with_retries(
    pqxx::connection& conn, const std::vector<std::pair<std::string, std::string>>& groups) {
  std::vector<std::string> names, domains;
  for (const auto& [g, d] : groups) {
    names.push_back(g);
    domains.push_back(d);
  }
  pqxx::nontransaction tx(conn);
  const pqxx::result rows =
      tx.exec_prepared("groups_with_retries", text_array_literal(names), text_array_literal(domains));
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : rows) out.emplace_back(r[0].as<std::string>(), r[1].as<std::string>());
  return out;
}

std::vector<v1::Event> due_retries(pqxx::connection& conn, const std::string& group, const std::string& domain,
                                   const std::vector<int>& partitions, int max_rows, std::chrono::milliseconds claim) {
  pqxx::nontransaction tx(conn);
  const pqxx::result rows = tx.exec_params(
      std::string("SELECT partition, ") + kIntentSelect +
          ", attempt FROM intentlog.due_retries($1, $2, $3::int[], $4, make_interval(secs => $5::int8 / 1000.0))",
      group, domain, int_array_literal(partitions), max_rows, static_cast<std::int64_t>(claim.count()));
  std::vector<v1::Event> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    v1::Event& e = out.emplace_back();
    e.set_domain(domain);
    e.set_partition(r[0].as<int>());
    read_intent(tx, r, 1, e);
    // The scheduler counts an attempt when it hands the event out.
    e.set_attempt(r[1 + kIntentSelectColumns].as<std::uint32_t>() - 1);
  }
  return out;
}

std::optional<int> retry_delivered(pqxx::connection& conn, const std::string& group, const std::string& domain,
                                   int partition, std::int64_t seq) {
  pqxx::nontransaction tx(conn);
  const pqxx::row r =
      tx.exec_params1("SELECT intentlog.retry_delivered($1, $2, $3, $4)", group, domain, partition, seq);
  if (r[0].is_null()) return std::nullopt;
  return r[0].as<int>();
}

std::vector<std::string> held_keys(pqxx::connection& conn, const std::string& group, const std::string& domain,
                                   int partition) {
  pqxx::nontransaction tx(conn);
  std::vector<std::string> out;
  for (const auto& r :
       tx.exec_params("SELECT key FROM intentlog.held_keys($1, $2, ARRAY[$3::int])", group, domain, partition)) {
    out.push_back(r[0].as<std::string>());
  }
  return out;
}

int release_claims(pqxx::connection& conn, const std::string& group, const std::string& domain,
                   const std::vector<int>& partitions) {
  pqxx::nontransaction tx(conn);
  const std::string parts = int_array_literal(partitions);
  return tx.exec_params1("SELECT intentlog.release_claims($1, $2, $3::int[])", group, domain, parts)[0].as<int>();
}

}  // namespace intentlog
