// Store: the worker's SQL calls, over one libpqxx connection. Every call is a
// short statement in its own transaction; nothing here holds a snapshot open
// between calls. Not thread-safe: one Store per thread (see DbPool).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "intentlog/v1/event.pb.h"
#include "worker/net/credentials.h"

namespace intentlog {

struct DomainRow {
  std::string name;
  int partitions = 0;
  std::string durability;
};

struct FetchResult {
  std::vector<v1::Event> events;  // seq order
  std::string next_cursor;        // empty when no rows came back
};

// One partition's part of a batched fetch (Store::fetch_partitions).
struct FetchAsk {
  int partition = 0;
  int max_rows = 0;
  std::optional<std::string> from_cursor;  // nullopt: the group's stored cursor
  std::int64_t since = -1;                 // fetch_wait: the wake-up tick the cursor is current to; -1: fetch now
};

// What a long poll (Store::fetch_wait) brought: one result per ask, and the
// wake-up tick every ask's cursor is now current to (0: the server has no
// shared memory for wake-ups).
struct WaitResult {
  std::vector<FetchResult> results;
  std::int64_t tick = 0;
};

struct GapRow {
  std::string domain;
  std::int64_t gap_id = 0;
  int partition = 0;
  std::int64_t first_seq = 0;
  std::int64_t last_seq = 0;
  std::int64_t detected_at_us = 0;  // microseconds since the Unix epoch
};

struct SchemaRow {
  bool found = false;
  int version = 0;
  std::string message;
  std::string descriptor_set;
  std::string error;  // why not found
};

class Store {
 public:
  explicit Store(std::string conninfo) : conninfo_(std::move(conninfo)) {}

  // Connects if needed. Throws pqxx::broken_connection when it cannot.
  pqxx::connection& conn();
  // Drops the connection (after a failure) so that the next call reconnects.
  void reset() { conn_.reset(); }

  std::vector<DomainRow> domains();
  FetchResult fetch(const std::string& group, const std::string& domain, int partition, int max_rows,
                    const std::optional<std::string>& from_cursor);
  // intentlog.fetch of several partitions of one domain in one statement:
  // one result per ask, in the asks' order. A fetch costs a round trip and a
  // statement whatever its rows; the worker fetches the partitions that have
  // rows waiting together (16 partitions of 15 rows: 0.5 ms in one statement
  // against 2.6 ms in 16). Through intentlog.fetch_many, or, on an install
  // older than it, a join of unnest and intentlog.fetch.
  std::vector<FetchResult> fetch_partitions(const std::string& group, const std::string& domain,
                                            const std::vector<FetchAsk>& asks);
  // intentlog.fetch_wait: fetch_partitions of the asks that may have rows,
  // waiting up to timeout_ms for one. Nothing when the install has no
  // fetch_wait (0.1 before ALTER EXTENSION UPDATE).
  std::optional<WaitResult> fetch_wait(const std::string& group, const std::string& domain,
                                       const std::vector<FetchAsk>& asks, int timeout_ms);
  void commit_cursor(const std::string& group, const std::string& domain, int partition, const std::string& cursor);
  std::string latest_cursor(const std::string& domain, int partition);
  // intentlog.unreported_gaps_all of (domain, partition) pairs.
  std::vector<GapRow> unreported_gaps(const std::string& group,
                                      const std::vector<std::pair<std::string, int>>& partitions);
  void gap_reported(const std::string& group, std::int64_t gap_id);
  // intentlog.schema_descriptor(); version 0 = the current one.
  SchemaRow schema_descriptor(const std::string& domain, int version);
  // intentlog.consumer_credentials(): the active consumers and their grants.
  std::vector<ConsumerCredential> consumer_credentials();

 private:
  std::string conninfo_;
  std::unique_ptr<pqxx::connection> conn_;
  bool has_fetch_many_ = false;
  bool has_fetch_wait_ = false;
};

// The columns of intentlog.intent (sql/structure/30_append_read.sql) as every
// worker query that reads intents selects them, in the type's order: bytea
// and jsonb as text, appended_at as microseconds since the Unix epoch.
// intentlog.fetch returns them first, intentlog.due_retries after partition.
constexpr const char* kIntentSelect =
    "seq, key, op, payload, schema_version, expected_version, headers::text,"
    " (extract(epoch FROM appended_at) * 1000000)::int8";
constexpr int kIntentSelectColumns = 8;

// The one decoder of an intent row: fills e's seq, key, op, payload,
// schema_version, expected_version, headers_json and appended_at from the
// kIntentSelectColumns columns of `r` that start at column `first`.
void read_intent(const pqxx::transaction_base& tx, const pqxx::row& r, int first, v1::Event& e);

// "{1,2,3}": an int[] literal for a text parameter cast to int[].
std::string int_array_literal(const std::vector<int>& v);

}  // namespace intentlog
