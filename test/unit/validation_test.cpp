#include "common/validation.h"

#include <gtest/gtest.h>

#include <string>

namespace intentlog {
namespace {

TEST(Validation, DomainNames) {
  EXPECT_FALSE(check_domain_name("orders"));
  EXPECT_FALSE(check_domain_name("_x1"));
  EXPECT_FALSE(check_domain_name(std::string(kMaxDomainNameBytes, 'd')));
  EXPECT_EQ(check_domain_name("").problem, Problem::kDomainNameEmpty);
  EXPECT_EQ(check_domain_name("Orders").problem, Problem::kDomainNameInvalid);
  EXPECT_EQ(check_domain_name("1abc").problem, Problem::kDomainNameInvalid);
  EXPECT_EQ(check_domain_name("a-b").problem, Problem::kDomainNameInvalid);
  EXPECT_EQ(check_domain_name("a\"b").problem, Problem::kDomainNameInvalid);
  EXPECT_EQ(check_domain_name("x; drop").problem, Problem::kDomainNameInvalid);
  auto c = check_domain_name(std::string(kMaxDomainNameBytes + 1, 'd'));
  EXPECT_EQ(c.problem, Problem::kDomainNameTooLong);
  EXPECT_EQ(c.actual, kMaxDomainNameBytes + 1);
  EXPECT_EQ(c.limit, kMaxDomainNameBytes);
}

TEST(Validation, GroupNames) {
  EXPECT_FALSE(check_group_name("billing"));
  EXPECT_FALSE(check_group_name("Billing_v2.eu-west:1"));
  EXPECT_FALSE(check_group_name(std::string(kMaxGroupNameBytes, 'g')));
  EXPECT_EQ(check_group_name("").problem, Problem::kGroupNameInvalid);
  EXPECT_EQ(check_group_name(std::string(kMaxGroupNameBytes + 1, 'g')).problem, Problem::kGroupNameInvalid);
  EXPECT_EQ(check_group_name("bad group!").problem, Problem::kGroupNameInvalid);
  EXPECT_EQ(check_group_name("a/b").problem, Problem::kGroupNameInvalid);
  EXPECT_EQ(check_group_name(std::string("a\0b", 3)).problem, Problem::kGroupNameInvalid);
  EXPECT_EQ(check_group_name("gr\xc3\xbcn").problem, Problem::kGroupNameInvalid);  // ASCII only
}

TEST(Validation, KeysUseTheDomainLimitUnderTheHardLimit) {
  EXPECT_FALSE(check_key("k", 512));
  EXPECT_EQ(check_key("", 512).problem, Problem::kKeyEmpty);
  EXPECT_FALSE(check_key(std::string(512, 'k'), 512));
  auto c = check_key(std::string(513, 'k'), 512);
  EXPECT_EQ(c.problem, Problem::kKeyTooLong);
  EXPECT_EQ(c.limit, 512u);
  // A domain limit above the hard limit is capped; 0 means "hard limit".
  EXPECT_EQ(check_key(std::string(kMaxKeyBytes + 1, 'k'), 1 << 20).limit, kMaxKeyBytes);
  EXPECT_EQ(check_key(std::string(kMaxKeyBytes + 1, 'k'), 0).limit, kMaxKeyBytes);
}

TEST(Validation, Ops) {
  EXPECT_FALSE(check_op("upsert"));
  EXPECT_FALSE(check_op("order.created-v2_x"));
  EXPECT_EQ(check_op("").problem, Problem::kOpEmpty);
  EXPECT_EQ(check_op("has space").problem, Problem::kOpInvalid);
  EXPECT_EQ(check_op("é").problem, Problem::kOpInvalid);
  EXPECT_EQ(check_op(std::string(kMaxOpBytes + 1, 'o')).problem, Problem::kOpTooLong);
}

TEST(Validation, PayloadHeadersPartitions) {
  EXPECT_FALSE(check_payload(0, 100));
  EXPECT_FALSE(check_payload(100, 100));
  EXPECT_EQ(check_payload(101, 100).problem, Problem::kPayloadTooLarge);
  EXPECT_EQ(check_headers(8193, 8192).problem, Problem::kHeadersTooLarge);
  EXPECT_FALSE(check_partitions(1));
  EXPECT_FALSE(check_partitions(kMaxPartitions));
  EXPECT_EQ(check_partitions(0).problem, Problem::kPartitionsOutOfRange);
  EXPECT_EQ(check_partitions(-3).problem, Problem::kPartitionsOutOfRange);
  EXPECT_EQ(check_partitions(kMaxPartitions + 1).problem, Problem::kPartitionsOutOfRange);
}

TEST(Validation, Durability) {
  Durability d;
  ASSERT_TRUE(parse_durability("durable", &d));
  EXPECT_EQ(d, Durability::kDurable);
  ASSERT_TRUE(parse_durability("staged", &d));
  EXPECT_EQ(d, Durability::kStaged);
  EXPECT_FALSE(parse_durability("Durable", &d));
  EXPECT_FALSE(parse_durability("", &d));
}

TEST(Validation, EveryProblemIsDescribed) {
  for (int p = 0; p <= static_cast<int>(Problem::kBatchLengthMismatch); ++p)
    EXPECT_STRNE(describe(static_cast<Problem>(p)), "invalid input");
}

}  // namespace
}  // namespace intentlog
