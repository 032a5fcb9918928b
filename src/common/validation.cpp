#include "common/validation.h"

#include "common/cpp_only.h"  // last: see there

namespace intentlog {
namespace {

Check fail(Problem p, std::size_t actual = 0, std::size_t limit = 0) { return Check{p, actual, limit}; }

bool is_lower_ident_start(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
bool is_lower_ident_char(char c) { return is_lower_ident_start(c) || (c >= '0' && c <= '9'); }

std::size_t effective_limit(std::size_t domain_limit, std::size_t hard_limit) {
  return (domain_limit == 0 || domain_limit > hard_limit) ? hard_limit : domain_limit;
}

}  // namespace

Check check_domain_name(std::string_view name) {
  if (name.empty()) return fail(Problem::kDomainNameEmpty);
  if (name.size() > kMaxDomainNameBytes) return fail(Problem::kDomainNameTooLong, name.size(), kMaxDomainNameBytes);
  if (!is_lower_ident_start(name[0])) return fail(Problem::kDomainNameInvalid);
  for (char c : name)
    if (!is_lower_ident_char(c)) return fail(Problem::kDomainNameInvalid);
  return {};
}

Check check_group_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxGroupNameBytes) return fail(Problem::kGroupNameInvalid);
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == ':' || c == '-';
    if (!ok) return fail(Problem::kGroupNameInvalid);
  }
  return {};
}

Check check_key(std::string_view key, std::size_t domain_limit) {
  if (key.empty()) return fail(Problem::kKeyEmpty);
  std::size_t limit = effective_limit(domain_limit, kMaxKeyBytes);
  if (key.size() > limit) return fail(Problem::kKeyTooLong, key.size(), limit);
  return {};
}

Check check_op(std::string_view op) {
  if (op.empty()) return fail(Problem::kOpEmpty);
  if (op.size() > kMaxOpBytes) return fail(Problem::kOpTooLong, op.size(), kMaxOpBytes);
  for (char c : op) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!ok) return fail(Problem::kOpInvalid);
  }
  return {};
}

Check check_payload(std::size_t bytes, std::size_t domain_limit) {
  std::size_t limit = effective_limit(domain_limit, kMaxPayloadBytes);
  if (bytes > limit) return fail(Problem::kPayloadTooLarge, bytes, limit);
  return {};
}

Check check_headers(std::size_t bytes, std::size_t domain_limit) {
  std::size_t limit = effective_limit(domain_limit, kMaxHeadersBytes);
  if (bytes > limit) return fail(Problem::kHeadersTooLarge, bytes, limit);
  return {};
}

Check check_partitions(int partitions) {
  if (partitions < 1 || partitions > kMaxPartitions)
    return fail(Problem::kPartitionsOutOfRange, partitions < 0 ? 0 : static_cast<std::size_t>(partitions),
                kMaxPartitions);
  return {};
}

bool parse_durability(std::string_view s, Durability* out) {
  if (s == "durable") {
    *out = Durability::kDurable;
    return true;
  }
  if (s == "staged") {
    *out = Durability::kStaged;
    return true;
  }
  return false;
}

const char* describe(Problem p) {
  switch (p) {
    case Problem::kNone:
      return "ok";
    case Problem::kNullArgument:
      return "argument must not be null";
    case Problem::kDomainNameEmpty:
      return "domain name must not be empty";
    case Problem::kDomainNameTooLong:
      return "domain name is too long";
    case Problem::kDomainNameInvalid:
      return "domain name must be a lower-case identifier: a letter or '_' followed by letters, digits or '_'";
    case Problem::kGroupNameInvalid:
      return "consumer group names are 1 to 128 characters: letters, digits, '_', '.', ':' and '-'";
    case Problem::kKeyEmpty:
      return "key must not be empty";
    case Problem::kKeyTooLong:
      return "key is too long";
    case Problem::kOpEmpty:
      return "op must not be empty";
    case Problem::kOpTooLong:
      return "op is too long";
    case Problem::kOpInvalid:
      return "op may contain only letters, digits, '_', '-' and '.'";
    case Problem::kPayloadTooLarge:
      return "payload is too large";
    case Problem::kHeadersTooLarge:
      return "headers are too large";
    case Problem::kPartitionsOutOfRange:
      return "partitions must be between 1 and 1024";
    case Problem::kUnknownDurability:
      return "durability must be 'durable' or 'staged'";
    case Problem::kBatchTooLarge:
      return "batch is too large";
    case Problem::kBatchLengthMismatch:
      return "batch arrays must have the same length";
  }
  return "invalid input";
}

}  // namespace intentlog
