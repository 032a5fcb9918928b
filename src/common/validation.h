// Validation of intent_append / create_domain input, shared by the extension
// and the worker. Plain C++ with no PostgreSQL dependency: every check returns
// a Problem (trivially destructible) that the SQL glue turns into an error
// with a SQLSTATE, so no C++ object is alive when PostgreSQL raises.
#pragma once

#include <cstddef>
#include <string_view>

namespace intentlog {

// Hard limits. Per-domain limits (intentlog.domains) may be lower, never higher.
constexpr std::size_t kMaxDomainNameBytes = 48;  // leaves room for _pNNNN_sNNNNNN in 63
constexpr std::size_t kMaxGroupNameBytes = 128;
constexpr std::size_t kMaxKeyBytes = 4096;
constexpr std::size_t kMaxOpBytes = 64;
constexpr std::size_t kMaxPayloadBytes = 64u << 20;
constexpr std::size_t kMaxHeadersBytes = 1u << 20;
constexpr int kMaxPartitions = 1024;
constexpr std::size_t kMaxBatch = 10000;

enum class Problem {
  kNone,
  kNullArgument,
  kDomainNameEmpty,
  kDomainNameTooLong,
  kDomainNameInvalid,
  kGroupNameInvalid,
  kKeyEmpty,
  kKeyTooLong,
  kOpEmpty,
  kOpTooLong,
  kOpInvalid,
  kPayloadTooLarge,
  kHeadersTooLarge,
  kPartitionsOutOfRange,
  kUnknownDurability,
  kBatchTooLarge,
  kBatchLengthMismatch,
};

struct Check {
  Problem problem = Problem::kNone;
  std::size_t actual = 0;  // the offending size, where there is one
  std::size_t limit = 0;   // the limit it broke
  explicit operator bool() const { return problem != Problem::kNone; }
};

// Domain names are lower-case SQL identifiers ([a-z_][a-z0-9_]*), at most
// kMaxDomainNameBytes, so that every derived relation name fits NAMEDATALEN
// and needs no case folding. They are still quoted wherever they reach SQL.
Check check_domain_name(std::string_view name);
// Consumer group names: 1 to kMaxGroupNameBytes of letters, digits, '_', '.',
// ':' and '-' (the rule of the SQL domain intentlog.group_name, the worker's
// Hello and intentlog.fetch).
Check check_group_name(std::string_view name);
Check check_key(std::string_view key, std::size_t domain_limit);
// Operations are short words: letters, digits, '_', '-', '.'.
Check check_op(std::string_view op);
Check check_payload(std::size_t bytes, std::size_t domain_limit);
Check check_headers(std::size_t bytes, std::size_t domain_limit);
Check check_partitions(int partitions);

enum class Durability { kDurable, kStaged };
bool parse_durability(std::string_view s, Durability* out);

// A short, stable description of the problem for error messages.
const char* describe(Problem p);

}  // namespace intentlog
