// Partitioner: the stable, documented key -> partition mapping.
//
// partition = fnv1a64(utf8 key bytes) mod partitions
//
// FNV-1a (64-bit, offset basis 0xcbf29ce484222325, prime 0x100000001b3) is
// chosen because any client in any language can reimplement it in five lines
// and get the same answer; the extension, the worker and clients must agree.
// Changing it would move keys between partitions and break per-key order, so
// it is frozen and covered by fixed vectors in test/unit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace intentlog {

constexpr std::uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

std::uint64_t fnv1a64(const void* data, std::size_t len);

inline std::uint64_t fnv1a64(std::string_view s) { return fnv1a64(s.data(), s.size()); }

// Partition of a key in a domain with `partitions` partitions (>= 1).
int partition_of(std::string_view key, int partitions);

}  // namespace intentlog
