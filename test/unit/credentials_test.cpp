#include "worker/net/credentials.h"

#include <gtest/gtest.h>

namespace intentlog {
namespace {

ConsumerCredential make(const std::string& name, const std::string& secret, std::vector<std::string> groups,
                        std::optional<std::vector<std::string>> domains = std::nullopt) {
  ConsumerCredential c;
  c.name = name;
  c.salt = std::string("\x01\x02\x03\x00\xff", 5);
  c.hash = sha256(c.salt + secret);
  c.groups = std::move(groups);
  c.domains = std::move(domains);
  return c;
}

TEST(Credentials, PatternStarMatchesAnyRun) {
  EXPECT_TRUE(pattern_matches("*", ""));
  EXPECT_TRUE(pattern_matches("*", "billing"));
  EXPECT_TRUE(pattern_matches("billing", "billing"));
  EXPECT_FALSE(pattern_matches("billing", "billing2"));
  EXPECT_TRUE(pattern_matches("billing*", "billing.eu"));
  EXPECT_TRUE(pattern_matches("*.eu", "billing.eu"));
  EXPECT_FALSE(pattern_matches("*.eu", "billing.us"));
  EXPECT_TRUE(pattern_matches("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(pattern_matches("a*b*c", "aXXbYY"));
  EXPECT_TRUE(pattern_matches("a**", "a"));
}

TEST(Credentials, Sha256KnownVector) {
  // sha256("abc")
  const std::string h = sha256("abc");
  ASSERT_EQ(h.size(), 32u);
  EXPECT_EQ(static_cast<unsigned char>(h[0]), 0xba);
  EXPECT_EQ(static_cast<unsigned char>(h[31]), 0xad);
}

TEST(Credentials, VerifiesNameAndSecret) {
  Credentials creds;
  EXPECT_FALSE(creds.loaded());
  EXPECT_TRUE(creds.replace({make("billing", "s3cret", {"billing"}), make("ops", "other", {"*"})}));
  EXPECT_TRUE(creds.loaded());
  const ConsumerCredential* c = creds.verify("billing/s3cret");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->name, "billing");
  EXPECT_EQ(creds.verify("billing/s3cre"), nullptr);
  EXPECT_EQ(creds.verify("ops/s3cret"), nullptr);  // another consumer's secret
  EXPECT_EQ(creds.verify("nobody/s3cret"), nullptr);
  EXPECT_EQ(creds.verify("s3cret"), nullptr);
  EXPECT_EQ(creds.verify("/s3cret"), nullptr);
  EXPECT_EQ(creds.verify(""), nullptr);
  EXPECT_FALSE(creds.replace({make("billing", "s3cret", {"billing"}), make("ops", "other", {"*"})}));
  EXPECT_TRUE(creds.replace({make("ops", "other", {"*"})}));  // billing revoked
  EXPECT_EQ(creds.verify("billing/s3cret"), nullptr);
}

TEST(Credentials, GrantsOfGroupsAndDomains) {
  const auto c = make("eu", "x", {"billing.eu*", "audit"}, std::vector<std::string>{"orders", "pay*"});
  EXPECT_EQ(denied(c, "billing.eu.1", {"orders", "payments"}), "");
  EXPECT_EQ(denied(c, "audit", {"orders"}), "");
  EXPECT_EQ(denied(c, "billing.us", {"orders"}), "consumer eu may not use group billing.us");
  EXPECT_EQ(denied(c, "audit", {"orders", "users"}), "consumer eu may not read domain users");
  const auto all = make("all", "x", {"*"});
  EXPECT_EQ(denied(all, "anything", {"any", "domain"}), "");
}

}  // namespace
}  // namespace intentlog
