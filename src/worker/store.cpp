#include "worker/store.h"

#include "worker/delivery/leases.h"
#include "worker/delivery_store.h"

namespace intentlog {

pqxx::connection& Store::conn() {
  if (!conn_) {
    auto c = std::make_unique<pqxx::connection>(conninfo_);
    // Everything this connection writes is the worker's bookkeeping (cursors,
    // leases, retries), and losing a suffix of it in a server crash only means
    // redelivery: WAL is replayed in order, so a lost commit takes every later
    // one with it, and a cursor is never ahead of what it depends on. Not
    // waiting for the WAL flush keeps 10 cursor commits a second per
    // partition from holding the few connections that fetches need.
    pqxx::nontransaction(*c).exec("SET synchronous_commit = off");
    c->prepare("fetch",
               std::string("SELECT ") + kIntentSelect + ", next_cursor FROM intentlog.fetch($1, $2, $3, $4, $5)");
    // One function call whose plan PostgreSQL keeps; the join below is
    // planned again on every call (estimated on the actual arrays, its custom
    // plan always looks cheaper than the generic one).
    has_fetch_many_ =
        !pqxx::nontransaction(*c)
             .exec("SELECT to_regprocedure('intentlog.fetch_many(text, text, int[], int[], text[])')")[0][0]
             .is_null();
    if (has_fetch_many_)
      c->prepare("fetch_many", std::string("SELECT ask, ") + kIntentSelect +
                                   ", next_cursor FROM intentlog.fetch_many($1, $2, $3::int[], $4::int[], $5::text[])");
    has_fetch_wait_ = !pqxx::nontransaction(*c)
                           .exec(
                               "SELECT to_regprocedure('intentlog.fetch_wait(text, text, int[], int[], text[],"
                               " bigint[], int)')")[0][0]
                           .is_null();
    if (has_fetch_wait_)
      c->prepare("fetch_wait", std::string("SELECT ask, ") + kIntentSelect +
                                   ", next_cursor, tick FROM intentlog.fetch_wait($1, $2, $3::int[], $4::int[],"
                                   " $5::text[], $6::int8[], $7)");
    c->prepare("fetch_partitions", std::string("SELECT a.i, ") + kIntentSelect +
                                       ", next_cursor FROM unnest($3::int[], $4::int[], $5::text[])"
                                       " WITH ORDINALITY AS a(partition, max_rows, from_cursor, i),"
                                       " LATERAL intentlog.fetch($1, $2, a.partition, a.max_rows, a.from_cursor)"
                                       " ORDER BY a.i, seq");
    c->prepare("commit_cursor", "SELECT intentlog.commit_cursor($1, $2, $3, $4)");
    c->prepare("latest_cursor", "SELECT intentlog.latest_cursor($1, $2)");
    c->prepare("unreported_gaps",
               "SELECT domain, gap_id, partition, first_seq, last_seq,"
               " (extract(epoch FROM detected_at) * 1000000)::int8"
               " FROM intentlog.unreported_gaps_all($1, $2::text[], $3::int[])");
    c->prepare("gap_reported", "SELECT intentlog.gap_reported($1, $2)");
    // The periodic calls of an idle worker, parsed and planned once (as text,
    // its backends' idle time at 1,024 partitions was a fifth higher).
    c->prepare("groups_with_retries", kGroupsWithRetriesSql);
    c->prepare("lease_acquire_all", kLeaseAcquireAllSql);
    conn_ = std::move(c);
  }
  return *conn_;
}

std::vector<DomainRow> Store::domains() {
  pqxx::nontransaction tx(conn());
  std::vector<DomainRow> out;
  for (const auto& r : tx.exec("SELECT name, partitions, durability FROM intentlog.domains ORDER BY name")) {
    out.push_back(DomainRow{r[0].as<std::string>(), r[1].as<int>(), r[2].as<std::string>()});
  }
  return out;
}

FetchResult Store::fetch(const std::string& group, const std::string& domain, int partition, int max_rows,
                         const std::optional<std::string>& from_cursor) {
  pqxx::nontransaction tx(conn());
  const char* cursor = from_cursor ? from_cursor->c_str() : nullptr;
  const pqxx::result rows = tx.exec_prepared("fetch", group, domain, partition, max_rows, cursor);
  FetchResult out;
  out.events.reserve(rows.size());
  for (const auto& r : rows) {
    v1::Event& e = out.events.emplace_back();
    e.set_domain(domain);
    e.set_partition(partition);
    read_intent(tx, r, 0, e);
  }
  if (!rows.empty()) out.next_cursor = rows[0][kIntentSelectColumns].as<std::string>();
  return out;
}

std::vector<FetchResult> Store::fetch_partitions(const std::string& group, const std::string& domain,
                                                 const std::vector<FetchAsk>& asks) {
  // One ask: the single-partition statement, which also runs a kept plan on
  // an install without intentlog.fetch_many.
  if (asks.size() == 1) {
    std::vector<FetchResult> out;
    out.push_back(fetch(group, domain, asks[0].partition, asks[0].max_rows, asks[0].from_cursor));
    return out;
  }
  std::vector<int> partitions, max_rows;
  std::vector<std::optional<std::string>> cursors;
  for (const FetchAsk& a : asks) {
    partitions.push_back(a.partition);
    max_rows.push_back(a.max_rows);
    cursors.push_back(a.from_cursor);
  }
  pqxx::nontransaction tx(conn());  // connects first: has_fetch_many_ is known below
  const pqxx::result rows = tx.exec_prepared(has_fetch_many_ ? "fetch_many" : "fetch_partitions", group, domain,
                                             int_array_literal(partitions), int_array_literal(max_rows),
                                             nullable_text_array_literal(cursors));
  std::vector<FetchResult> out(asks.size());
  for (const auto& r : rows) {
    const auto i = r[0].as<std::size_t>() - 1;  // ordinality: 1-based
    if (i >= out.size()) throw std::runtime_error("fetch_partitions: row of an unknown ask");
    FetchResult& res = out[i];
    v1::Event& e = res.events.emplace_back();
    e.set_domain(domain);
    e.set_partition(asks[i].partition);
    read_intent(tx, r, 1, e);
    res.next_cursor = r[1 + kIntentSelectColumns].as<std::string>();
  }
  return out;
}

std::optional<WaitResult> Store::fetch_wait(const std::string& group, const std::string& domain,
                                            const std::vector<FetchAsk>& asks, int timeout_ms) {
  std::vector<int> partitions, max_rows;
  std::vector<std::optional<std::string>> cursors;
  std::string sinces = "{";
  for (const FetchAsk& a : asks) {
    partitions.push_back(a.partition);
    max_rows.push_back(a.max_rows);
    cursors.push_back(a.from_cursor);
    if (sinces.size() > 1) sinces += ',';
    sinces += std::to_string(a.since);
  }
  sinces += '}';
  pqxx::nontransaction tx(conn());  // connects first: has_fetch_wait_ is known below
  if (!has_fetch_wait_) return std::nullopt;
  const pqxx::result rows =
      tx.exec_prepared("fetch_wait", group, domain, int_array_literal(partitions), int_array_literal(max_rows),
                       nullable_text_array_literal(cursors), sinces, timeout_ms);
  WaitResult out;
  out.results.resize(asks.size());
  constexpr int kTick = 2 + kIntentSelectColumns;
  for (const auto& r : rows) {
    out.tick = r[kTick].as<std::int64_t>();
    const auto ask = r[0].as<std::size_t>();  // 1-based; 0: the row that only carries the tick
    if (ask == 0) continue;
    if (ask > asks.size()) throw std::runtime_error("fetch_wait: row of an unknown ask");
    FetchResult& res = out.results[ask - 1];
    v1::Event& e = res.events.emplace_back();
    e.set_domain(domain);
    e.set_partition(asks[ask - 1].partition);
    read_intent(tx, r, 1, e);
    res.next_cursor = r[1 + kIntentSelectColumns].as<std::string>();
  }
  return out;
}

void read_intent(const pqxx::transaction_base& tx, const pqxx::row& r, int first, v1::Event& e) {
  const auto f = [&](int i) { return r[first + i]; };
  e.set_seq(f(0).as<std::int64_t>());
  e.set_key(f(1).c_str(), f(1).size());
  e.set_op(f(2).c_str(), f(2).size());
  if (!f(3).is_null()) e.set_payload(tx.unesc_raw(f(3).c_str()));
  if (!f(4).is_null()) e.set_schema_version(f(4).as<int>());
  if (!f(5).is_null()) e.set_expected_version(f(5).as<std::int64_t>());
  if (!f(6).is_null()) e.set_headers_json(f(6).c_str(), f(6).size());
  if (!f(7).is_null()) {
    const std::int64_t us = f(7).as<std::int64_t>();
    e.mutable_appended_at()->set_seconds(us / 1000000);
    e.mutable_appended_at()->set_nanos(static_cast<int>(us % 1000000) * 1000);
  }
}

void Store::commit_cursor(const std::string& group, const std::string& domain, int partition,
                          const std::string& cursor) {
  pqxx::nontransaction tx(conn());
  tx.exec_prepared("commit_cursor", group, domain, partition, cursor);
}

std::string Store::latest_cursor(const std::string& domain, int partition) {
  pqxx::nontransaction tx(conn());
  return tx.exec_prepared1("latest_cursor", domain, partition)[0].as<std::string>();
}

std::vector<GapRow> Store::unreported_gaps(const std::string& group,
                                           const std::vector<std::pair<std::string, int>>& partitions) {
  std::vector<std::string> domains;
  std::vector<int> numbers;
  for (const auto& [d, p] : partitions) {
    domains.push_back(d);
    numbers.push_back(p);
  }
  pqxx::nontransaction tx(conn());
  std::vector<GapRow> out;
  for (const auto& r :
       tx.exec_prepared("unreported_gaps", group, text_array_literal(domains), int_array_literal(numbers))) {
    out.push_back(GapRow{r[0].as<std::string>(), r[1].as<std::int64_t>(), r[2].as<int>(), r[3].as<std::int64_t>(),
                         r[4].as<std::int64_t>(), r[5].as<std::int64_t>()});
  }
  return out;
}

void Store::gap_reported(const std::string& group, std::int64_t gap_id) {
  pqxx::nontransaction tx(conn());
  tx.exec_prepared("gap_reported", group, gap_id);
}

SchemaRow Store::schema_descriptor(const std::string& domain, int version) {
  SchemaRow out;
  pqxx::work tx(conn());
  // A savepoint-free probe: an unknown domain or version raises 42704, which
  // is an answer for the consumer, not a failure of this connection.
  try {
    auto r = tx.exec_params("SELECT version, message, descriptor_set FROM intentlog.schema_descriptor($1, $2)", domain,
                            version > 0 ? std::optional<int>(version) : std::optional<int>());
    if (!r.empty()) {
      out.found = true;
      out.version = r[0][0].as<int>();
      out.message = r[0][1].as<std::string>();
      out.descriptor_set = tx.unesc_raw(r[0][2].c_str());
    }
  } catch (const pqxx::sql_error& e) {
    out.error = e.what();
    while (!out.error.empty() && (out.error.back() == '\n' || out.error.back() == ' ')) out.error.pop_back();
  }
  return out;
}

std::string int_array_literal(const std::vector<int>& v) {
  std::string s = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "}";
}

namespace {

// Patterns hold no spaces (intentlog._check_patterns).
std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t j = s.find(' ', i);
    const std::size_t end = j == std::string::npos ? s.size() : j;
    if (end > i) out.push_back(s.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

}  // namespace

std::vector<ConsumerCredential> Store::consumer_credentials() {
  pqxx::nontransaction tx(conn());
  std::vector<ConsumerCredential> out;
  for (const auto& r : tx.exec("SELECT name, token_salt, token_hash, array_to_string(groups, ' '), "
                               "array_to_string(domains, ' ') FROM intentlog.consumer_credentials()")) {
    ConsumerCredential c;
    c.name = r[0].as<std::string>();
    c.salt = tx.unesc_raw(r[1].c_str());
    c.hash = tx.unesc_raw(r[2].c_str());
    c.groups = split_words(r[3].as<std::string>());
    if (!r[4].is_null()) c.domains = split_words(r[4].as<std::string>());
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace intentlog
