// The Kafka Java client's key hash (org.apache.kafka.common.utils.Utils.murmur2
// and the default partitioner's toPositive(hash) % partitions), so records
// published with --kafka-partitioning murmur2 land where a Java producer
// would put the same key.
#pragma once

#include <cstdint>
#include <string_view>

namespace intentlog {

std::int32_t kafka_murmur2(std::string_view key);
// 0 <= result < partitions; partitions must be positive.
int kafka_murmur2_partition(std::string_view key, int partitions);

}  // namespace intentlog
