// The worker's delivery surfaces that need no server: its retry and
// consistency-read options, how an Event's state prints, and the array
// literals the delivery SQL calls pass.
#include <gtest/gtest.h>

#include <vector>

#include "worker/delivery_store.h"
#include "worker/event_format.h"
#include "worker/worker_config.h"

namespace intentlog {
namespace {

std::optional<WorkerConfig> parse(std::vector<std::string> args, std::string* err) {
  std::vector<char*> argv{const_cast<char*>("intentlog-worker")};
  for (auto& a : args) argv.push_back(a.data());
  bool help = false;
  return parse_worker_args(static_cast<int>(argv.size()), argv.data(), err, &help);
}

TEST(DeliveryOptions, Defaults) {
  std::string err;
  auto c = parse({}, &err);
  ASSERT_TRUE(c) << err;
  EXPECT_EQ(c->ack_timeout.count(), 30000);
  EXPECT_EQ(c->retry_poll.count(), 200);
  EXPECT_TRUE(c->replica.empty());
}

TEST(DeliveryOptions, ParsedAndChecked) {
  std::string err;
  auto c = parse({"--ack-timeout-ms", "1500", "--retry-poll-ms=20", "--replica", "host=/tmp port=5433"}, &err);
  ASSERT_TRUE(c) << err;
  EXPECT_EQ(c->ack_timeout.count(), 1500);
  EXPECT_EQ(c->retry_poll.count(), 20);
  EXPECT_EQ(c->replica, "host=/tmp port=5433");
  EXPECT_FALSE(parse({"--ack-timeout-ms", "0"}, &err));
  EXPECT_FALSE(parse({"--retry-poll-ms", "-1"}, &err));
  EXPECT_FALSE(parse({"--nack-backoff-ms", "20"}, &err));  // retries follow the domain's backoff now
}

TEST(DeliveryOptions, StateInTheJsonLine) {
  v1::Event e;
  e.set_key("a");
  e.mutable_state()->set_version(3);
  e.mutable_state()->set_json("{\"balance\": 30}");
  e.mutable_state()->set_source(v1::STATE_SOURCE_STANDBY);
  e.mutable_state()->set_reads(1);
  EXPECT_NE(
      event_json(e).find(",\"state\":{\"source\":\"standby\",\"version\":3,\"reads\":1,\"json\":{\"balance\": 30}}"),
      std::string::npos)
      << event_json(e);
  e.mutable_state()->set_bytes(std::string("\x08\x02", 2));
  e.mutable_state()->set_source(v1::STATE_SOURCE_PRIMARY);
  e.mutable_state()->clear_version();
  EXPECT_NE(event_json(e).find("\"state\":{\"source\":\"primary\",\"version\":null,\"reads\":1,\"bytes\":\"CAI=\"}"),
            std::string::npos)
      << event_json(e);
  v1::Event bare;
  EXPECT_EQ(event_json(bare).find("\"state\""), std::string::npos);
}

TEST(DeliveryOptions, ArrayLiterals) {
  EXPECT_EQ(bigint_array_literal({}), "{}");
  EXPECT_EQ(bigint_array_literal({1, -2, 9007199254740993}), "{1,-2,9007199254740993}");
  // Every key survives: quotes, backslashes, commas, braces, empty, NULL.
  EXPECT_EQ(text_array_literal({"a\"b", "c\\d", "", "NULL", ",{}"}), "{\"a\\\"b\",\"c\\\\d\",\"\",\"NULL\",\",{}\"}");
  // nullopt is NULL; the text "NULL" stays a string.
  EXPECT_EQ(nullable_text_array_literal({std::string("1;2:0,3:1"), std::nullopt, std::string("NULL")}),
            "{\"1;2:0,3:1\",NULL,\"NULL\"}");
  EXPECT_EQ(nullable_text_array_literal({}), "{}");
}

}  // namespace
}  // namespace intentlog
