// Kafka publication without a broker: the Java client's murmur2 (vectors from
// Kafka's own UtilsTest, and librdkafka's Java-compatible partitioner as a
// second implementation), record building, and the command-line options.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <random>

#include "worker/kafka/kafka_config.h"
#include "worker/kafka/kafka_record.h"
#include "worker/kafka/murmur2.h"

namespace intentlog {
namespace {

TEST(KafkaMurmur2, MatchesTheJavaClient) {
  // org.apache.kafka.common.utils.UtilsTest#testMurmur2
  EXPECT_EQ(kafka_murmur2("21"), -973932308);
  EXPECT_EQ(kafka_murmur2("foobar"), -790332482);
  EXPECT_EQ(kafka_murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(kafka_murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(kafka_murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(kafka_murmur2("abc"), 479470107);
}

TEST(KafkaMurmur2, PartitionsLikeLibrdkafkasMurmur2Partitioner) {
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::string key(rng() % 40 + 1, '\0');
    for (auto& ch : key) ch = static_cast<char>(rng() % 256);
    const int partitions = static_cast<int>(rng() % 64 + 1);
    // Reads no topic state for a non-NULL key.
    const int32_t theirs =
        rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), partitions, nullptr, nullptr);
    ASSERT_EQ(kafka_murmur2_partition(key, partitions), theirs) << "key of " << key.size() << " bytes";
  }
}

v1::Event sample_event() {
  v1::Event e;
  e.set_domain("orders");
  e.set_partition(3);
  e.set_seq(42);
  e.set_key("o-1");
  e.set_op("paid");
  e.set_payload(std::string("\x08\x02", 2));
  e.set_schema_version(2);
  e.set_expected_version(7);
  e.set_headers_json(R"({"trace_id": "t-1"})");
  e.mutable_appended_at()->set_seconds(1764633600);  // 2025-12-02T00:00:00Z
  e.mutable_appended_at()->set_nanos(123456000);
  e.set_attempt(1);
  return e;
}

std::string header(const KafkaRecord& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "<absent>";
}

TEST(KafkaRecord, EventRecordCarriesKeyValueAndHeaders) {
  KafkaConfig c;
  const v1::Event e = sample_event();
  const KafkaRecord r = event_record(c, e, 16, nullptr);
  EXPECT_EQ(r.topic, "intentlog.orders");
  EXPECT_EQ(r.partition, 3);
  ASSERT_TRUE(r.key);
  EXPECT_EQ(*r.key, "o-1");
  v1::Event back;
  ASSERT_TRUE(back.ParseFromString(r.value));
  EXPECT_EQ(back.SerializeAsString(), e.SerializeAsString());
  EXPECT_EQ(header(r, "id"), "orders/3/42");
  EXPECT_EQ(header(r, "type"), "event");
  EXPECT_EQ(header(r, "seq"), "42");
  EXPECT_EQ(header(r, "op"), "paid");
  EXPECT_EQ(header(r, "schema_version"), "2");
  EXPECT_EQ(header(r, "expected_version"), "7");
  EXPECT_EQ(header(r, "appended_at"), "2025-12-02T00:00:00.123456Z");
  EXPECT_EQ(header(r, "headers"), R"({"trace_id": "t-1"})");
}

TEST(KafkaRecord, AbsentFieldsAreAbsentHeaders) {
  KafkaConfig c;
  v1::Event e = sample_event();
  e.clear_expected_version();
  e.clear_headers_json();
  const KafkaRecord r = event_record(c, e, 16, nullptr);
  EXPECT_EQ(header(r, "expected_version"), "<absent>");
  EXPECT_EQ(header(r, "headers"), "<absent>");
}

TEST(KafkaRecord, AReusedRecordEqualsAFreshOne) {
  KafkaConfig c;
  KafkaRecord reused;
  const v1::Event full = sample_event();
  v1::Event small = sample_event();
  small.set_domain("o");
  small.set_seq(-1);
  small.clear_expected_version();
  small.clear_headers_json();
  small.clear_payload();
  for (const v1::Event* e : std::initializer_list<const v1::Event*>{&full, &small, &full}) {
    fill_event_record(c, *e, 16, nullptr, c.topic(e->domain()), &reused);
    const KafkaRecord fresh = event_record(c, *e, 16, nullptr);
    EXPECT_EQ(reused.topic, fresh.topic);
    EXPECT_EQ(reused.partition, fresh.partition);
    EXPECT_EQ(reused.key, fresh.key);
    EXPECT_EQ(reused.value, fresh.value);
    EXPECT_EQ(reused.headers, fresh.headers);
  }
  EXPECT_EQ(header(reused, "id"), "orders/3/42");
}

TEST(KafkaRecord, Murmur2PartitioningAndTopicTemplate) {
  KafkaConfig c;
  c.partitioning = KafkaConfig::Partitioning::kMurmur2;
  c.topic_template = "cdc.<domain>.v1.<domain>";
  const KafkaRecord r = event_record(c, sample_event(), 6, nullptr);
  EXPECT_EQ(r.topic, "cdc.orders.v1.orders");
  EXPECT_EQ(r.partition, kafka_murmur2_partition("o-1", 6));
}

TEST(KafkaRecord, JsonValueWithoutSchemaIsTheEventJson) {
  KafkaConfig c;
  c.format = KafkaConfig::Format::kJson;
  const KafkaRecord r = event_record(c, sample_event(), 16, nullptr);
  EXPECT_EQ(r.value.front(), '{');
  EXPECT_EQ(r.value.back(), '}');
  EXPECT_NE(r.value.find(R"("key":"o-1")"), std::string::npos);
  EXPECT_NE(r.value.find(R"("payload":"CAI=")"), std::string::npos);
  EXPECT_NE(r.value.find(R"("headers":{"trace_id": "t-1"})"), std::string::npos);
}

TEST(KafkaRecord, GapRecords) {
  v1::Gap g;
  g.set_domain("search");
  g.set_partition(2);
  g.set_first_seq(10);
  g.set_last_seq(19);
  g.set_gap_id(5);
  KafkaConfig c;
  auto rs = gap_records(c, g, 4);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].partition, 2);
  EXPECT_FALSE(rs[0].key);
  EXPECT_EQ(header(rs[0], "type"), "gap");
  EXPECT_EQ(header(rs[0], "id"), "search/2/gap-5");
  EXPECT_EQ(header(rs[0], "first_seq"), "10");
  EXPECT_EQ(header(rs[0], "last_seq"), "19");
  v1::Gap back;
  ASSERT_TRUE(back.ParseFromString(rs[0].value));
  EXPECT_EQ(back.gap_id(), 5);
  c.partitioning = KafkaConfig::Partitioning::kMurmur2;
  rs = gap_records(c, g, 4);
  ASSERT_EQ(rs.size(), 4u);
  for (int p = 0; p < 4; ++p) EXPECT_EQ(rs[p].partition, p);
}

TEST(KafkaConfig, Options) {
  KafkaConfig c;
  std::string error;
  EXPECT_TRUE(parse_kafka_option("--kafka-brokers", "127.0.0.1:9092", &c, &error));
  EXPECT_TRUE(parse_kafka_option("--kafka-domains", "orders,search", &c, &error));
  EXPECT_TRUE(parse_kafka_option("--kafka-domains", "users", &c, &error));
  EXPECT_TRUE(parse_kafka_option("-X", "linger.ms=20", &c, &error));
  EXPECT_TRUE(parse_kafka_option("-X", "sasl.password=a=b", &c, &error));
  EXPECT_TRUE(error.empty()) << error;
  EXPECT_EQ(c.domains, (std::vector<std::string>{"orders", "search", "users"}));
  ASSERT_EQ(c.settings.size(), 2u);
  EXPECT_EQ(c.settings[1], (std::pair<std::string, std::string>{"sasl.password", "a=b"}));
  EXPECT_TRUE(check_kafka_config(c, &error));
  EXPECT_FALSE(parse_kafka_option("--listen", "unix:/x", &c, &error));
}

TEST(KafkaConfig, RefusesSettingsThatBreakTheGuarantee) {
  KafkaConfig c;
  std::string error;
  EXPECT_TRUE(parse_kafka_option("-X", "acks=1", &c, &error));
  EXPECT_NE(error.find("acks=all"), std::string::npos) << error;
  error.clear();
  parse_kafka_option("-X", "message.timeout.ms=30000", &c, &error);
  EXPECT_FALSE(error.empty());
  error.clear();
  parse_kafka_option("-X", "enable.idempotence=true", &c, &error);
  EXPECT_TRUE(error.empty());
  parse_kafka_option("-X", "novalue", &c, &error);
  EXPECT_FALSE(error.empty());
  error.clear();
  parse_kafka_option("--kafka-partitioning", "random", &c, &error);
  EXPECT_FALSE(error.empty());
}

TEST(KafkaConfig, BrokersAndDomainsGoTogether) {
  KafkaConfig c;
  std::string error;
  EXPECT_TRUE(check_kafka_config(c, &error));  // no Kafka at all
  c.domains = {"orders"};
  EXPECT_FALSE(check_kafka_config(c, &error));
  c.domains.clear();
  c.brokers = "b:9092";
  EXPECT_FALSE(check_kafka_config(c, &error));
}

}  // namespace
}  // namespace intentlog
