// DeliveryStore: the worker's calls to the SQL delivery bookkeeping
// (sql/src/70_delivery.sql): failed deliveries become retries or dead
// letters, intents of a held key are parked, due retries come back. Free
// functions over a Store's connection, each a short statement in its own
// transaction, run on DbPool threads like the rest of the worker's SQL.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <unordered_set>
#include <vector>

#include "intentlog/v1/event.pb.h"

namespace intentlog {

// Per-domain delivery settings the worker needs.
struct DeliverySettings {
  std::string state_query;  // empty: events carry the intent alone
  std::chrono::milliseconds consistency_timeout{5000};
};
std::map<std::string, DeliverySettings> load_delivery_settings(pqxx::connection& conn);

// intentlog.park: of the fetched `events` (one partition), the seqs that must
// not be delivered now (their key is held, or they are already held).
std::unordered_set<std::int64_t> park(pqxx::connection& conn, const std::string& group, const std::string& domain,
                                      int partition, const std::vector<const v1::Event*>& events);

struct FailureOutcome {
  std::string outcome;  // retry | dead_letter | parked | stale
  int failed_attempts = 0;
  std::optional<std::int64_t> dead_letter_id;
};
// intentlog.record_failure; `followers` are the key's later intents the
// worker held in memory behind `seq`; `attempt` 0: SQL knows it (a retry).
FailureOutcome record_failure(pqxx::connection& conn, const std::string& group, const std::string& domain,
                              int partition, std::int64_t seq, const std::string& error, std::uint32_t attempt,
                              const std::vector<std::int64_t>& followers);

// intentlog.due_retries: events to deliver again now (attempt set), claimed
// for `claim`.
std::vector<v1::Event> due_retries(pqxx::connection& conn, const std::string& group, const std::string& domain,
                                   const std::vector<int>& partitions, int max_rows, std::chrono::milliseconds claim);

// Which of these (group, domain) pairs have any row in intentlog.retries or
// intentlog.parked: one query for every group a worker serves, on a
// connection of Store::conn() (it prepares the statement,
// kGroupsWithRetriesSql, named "groups_with_retries").
extern const char kGroupsWithRetriesSql[];
std::vector<std::pair<std::string, std::string>> groups_with_retries(
    pqxx::connection& conn, const std::vector<std::pair<std::string, std::string>>& groups);

// intentlog.retry_delivered: intents of the key still held, or nothing when
// the seq was not held.
std::optional<int> retry_delivered(pqxx::connection& conn, const std::string& group, const std::string& domain,
                                   int partition, std::int64_t seq);

// intentlog.held_keys: keys whose new intents must go through park.
std::vector<std::string> held_keys(pqxx::connection& conn, const std::string& group, const std::string& domain,
                                   int partition);

// intentlog.release_claims, when a partition's lease is taken.
int release_claims(pqxx::connection& conn, const std::string& group, const std::string& domain,
                   const std::vector<int>& partitions);

// Array literals for text parameters cast to bigint[] / text[].
std::string bigint_array_literal(const std::vector<std::int64_t>& v);
std::string text_array_literal(const std::vector<std::string>& v);
std::string nullable_text_array_literal(const std::vector<std::optional<std::string>>& v);  // nullopt: NULL

}  // namespace intentlog
