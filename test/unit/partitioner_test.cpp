// Fixed vectors for the partition hash: any client in any language must get
// exactly these numbers, so they never change.
#include "common/partitioner.h"

#include <gtest/gtest.h>

namespace intentlog {
namespace {

TEST(Fnv1a64, PublishedVectors) {
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

TEST(Partitioner, FixedVectorsMatchTheSqlFunction) {
  // Same table as test/regress/expected/setup.out (intentlog.partition_for).
  struct Vector {
    const char* key;
    int p16;
    int p4;
  } vectors[] = {{"", 5, 1}, {"a", 12, 0}, {"foobar", 8, 0}, {"order-1", 13, 1}, {"order-2", 4, 0}, {"user:42", 2, 2}};
  for (const auto& v : vectors) {
    EXPECT_EQ(partition_of(v.key, 16), v.p16) << v.key;
    EXPECT_EQ(partition_of(v.key, 4), v.p4) << v.key;
  }
}

TEST(Partitioner, BytesNotCharacters) {
  // UTF-8 bytes are hashed as they are: "é" is two bytes.
  EXPECT_EQ(fnv1a64("\xc3\xa9"), fnv1a64(std::string_view("\xc3\xa9", 2)));
  EXPECT_NE(fnv1a64("\xc3\xa9"), fnv1a64("e"));
}

TEST(Partitioner, InRangeAndSpread) {
  int counts[16] = {};
  for (int i = 0; i < 16000; ++i) {
    int p = partition_of("key-" + std::to_string(i), 16);
    ASSERT_GE(p, 0);
    ASSERT_LT(p, 16);
    counts[p]++;
  }
  for (int c : counts) {
    EXPECT_GT(c, 800);
    EXPECT_LT(c, 1200);
  }
  EXPECT_EQ(partition_of("anything", 1), 0);
}

}  // namespace
}  // namespace intentlog
