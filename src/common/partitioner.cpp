#include "common/partitioner.h"

#include "common/cpp_only.h"  // last: see there

namespace intentlog {

std::uint64_t fnv1a64(const void* data, std::size_t len) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h = kFnvOffsetBasis;
  for (std::size_t i = 0; i < len; ++i) {
    h ^= p[i];
    h *= kFnvPrime;
  }
  return h;
}

int partition_of(std::string_view key, int partitions) {
  if (partitions <= 1) return 0;
  return static_cast<int>(fnv1a64(key) % static_cast<std::uint64_t>(partitions));
}

}  // namespace intentlog
