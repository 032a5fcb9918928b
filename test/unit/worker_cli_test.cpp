// Command-line surfaces of the worker and the consumer: endpoints, worker
// options and their limits, and how intentlog-tail prints events.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <vector>

#include "common/endpoint.h"
#include "worker/event_format.h"
#include "worker/wakeup_listener.h"
#include "worker/worker_config.h"

namespace intentlog {
namespace {

TEST(Endpoint, ParsesUnixAndTcp) {
  std::string err;
  auto u = parse_endpoint("unix:/tmp/x.sock", &err);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->kind, Endpoint::Kind::kUnix);
  EXPECT_EQ(u->path, "/tmp/x.sock");
  auto t = parse_endpoint("tcp:127.0.0.1:7000", &err);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 7000);
  auto v6 = parse_endpoint("tcp:[::1]:7000", &err);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->to_string(), "tcp:[::1]:7000");
}

TEST(Endpoint, RejectsNonsense) {
  std::string err;
  for (const char* bad : {"", "unix:", "tcp:host", "tcp:host:0", "tcp:host:70000", "tcp::80", "http://x", "tcp:h:1x"}) {
    EXPECT_FALSE(parse_endpoint(bad, &err)) << bad;
    EXPECT_FALSE(err.empty());
  }
  EXPECT_FALSE(parse_endpoint("unix:/" + std::string(200, 'a'), &err));
}

std::optional<WorkerConfig> parse(std::vector<std::string> args, std::string* err, bool* help) {
  std::vector<char*> argv{const_cast<char*>("intentlog-worker")};
  for (auto& a : args) argv.push_back(a.data());
  return parse_worker_args(static_cast<int>(argv.size()), argv.data(), err, help);
}

TEST(WorkerConfig, DefaultsServeAFirstUser) {
  std::string err;
  bool help = false;
  auto c = parse({}, &err, &help);
  ASSERT_TRUE(c) << err;
  ASSERT_EQ(c->listen.size(), 1u);
  EXPECT_EQ(c->listen[0].to_string(), std::string("unix:") + kDefaultSocketPath);
  EXPECT_FALSE(c->worker_id.empty());
  EXPECT_TRUE(c->db.empty());  // libpq environment
}

TEST(WorkerConfig, TcpNeedsAToken) {
  std::string err;
  bool help = false;
  EXPECT_FALSE(parse({"--listen", "tcp:127.0.0.1:7000"}, &err, &help));
  EXPECT_NE(err.find("token"), std::string::npos);
  // A name of this process's own: another user's leftover file must not be reused.
  const std::string file = testing::TempDir() + "/intentlog-token-" + std::to_string(::getpid());
  std::ofstream(file) << "0123456789abcdef-secret\n";
  auto c = parse({"--listen", "tcp:127.0.0.1:7000", "--token-file", file}, &err, &help);
  ASSERT_TRUE(c) << err;
  EXPECT_EQ(c->token, "0123456789abcdef-secret");
  std::ofstream(file) << "short\n";
  EXPECT_FALSE(parse({"--token-file", file}, &err, &help));
  std::remove(file.c_str());
}

TEST(WorkerConfig, ValuesAreChecked) {
  std::string err;
  bool help = false;
  EXPECT_FALSE(parse({"--max-in-flight", "0"}, &err, &help));
  EXPECT_FALSE(parse({"--max-frame-bytes", "10"}, &err, &help));
  EXPECT_FALSE(parse({"--poll-ms", "x"}, &err, &help));
  EXPECT_FALSE(parse({"--bogus", "1"}, &err, &help));
  EXPECT_FALSE(parse({"--db"}, &err, &help));
  auto c = parse({"--max-in-flight=8", "--buffer-events", "4", "--socket-mode", "0600"}, &err, &help);
  ASSERT_TRUE(c) << err;
  EXPECT_EQ(c->max_in_flight, 8u);
  EXPECT_EQ(c->buffer_events, 8u);  // never below max_in_flight
  EXPECT_EQ(c->socket_mode, 0600u);
  EXPECT_FALSE(parse({"--help"}, &err, &help));
  EXPECT_TRUE(help);
}

TEST(NotifyPayload, DomainColonPartition) {
  std::string d;
  int p = -1;
  EXPECT_TRUE(parse_notify_payload("orders:12", &d, &p));
  EXPECT_EQ(d, "orders");
  EXPECT_EQ(p, 12);
  EXPECT_FALSE(parse_notify_payload("orders", &d, &p));
  EXPECT_FALSE(parse_notify_payload(":1", &d, &p));
  EXPECT_FALSE(parse_notify_payload("orders:x", &d, &p));
  EXPECT_FALSE(parse_notify_payload("orders:-1", &d, &p));
}

TEST(EventFormat, Base64) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64(std::string("\x00\xff\x10", 3)), "AP8Q");
}

TEST(EventFormat, JsonStringEscapesAndRepairsUtf8) {
  EXPECT_EQ(json_string("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
  EXPECT_EQ(json_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(json_string("bad\xff"), "\"bad\\ufffd\"");
  EXPECT_EQ(json_string("\xc0\x80"), "\"\\ufffd\\ufffd\"");  // overlong NUL
}

TEST(EventFormat, EventJsonLine) {
  v1::Event e;
  e.set_domain("orders");
  e.set_partition(3);
  e.set_seq(42);
  e.set_key("o-1");
  e.set_op("paid");
  e.set_payload(std::string("\x08\x02", 2));
  e.set_expected_version(2);
  e.set_headers_json("{\"trace_id\": \"t-1\"}");
  e.mutable_appended_at()->set_seconds(1767225600);  // 2026-01-01T00:00:00Z
  e.mutable_appended_at()->set_nanos(123456000);
  e.set_attempt(1);
  EXPECT_EQ(event_json(e),
            "{\"domain\":\"orders\",\"partition\":3,\"seq\":42,\"key\":\"o-1\",\"op\":\"paid\",\"payload\":\"CAI=\","
            "\"schema_version\":0,\"expected_version\":2,\"headers\":{\"trace_id\": \"t-1\"},"
            "\"appended_at\":\"2026-01-01T00:00:00.123456Z\",\"attempt\":1}");
  v1::Event bare;
  bare.set_key("k");
  const std::string j = event_json(bare);
  EXPECT_NE(j.find("\"expected_version\":null"), std::string::npos);
  EXPECT_NE(j.find("\"headers\":null"), std::string::npos);
  EXPECT_NE(j.find("\"appended_at\":null"), std::string::npos);
}

}  // namespace
// The hand-made date of years 0000-9999 agrees with gmtime_r + printf, at the
// edges of months, leap days, centuries and the range, and at random seconds.
TEST(EventFormat, Rfc3339AgreesWithGmtime) {
  auto reference = [](std::int64_t secs, int nanos) {
    const std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d.%06dZ", static_cast<long long>(tm.tm_year) + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nanos / 1000);
    return std::string(buf);
  };
  std::vector<std::int64_t> secs = {0,           -1,          86399,        86400,        951782400,
                                    951868799,   951868800,   4107542400,   -62167219200, 253402300799,
                                    1767225600,  -2208988800, -62135596800, 1709164800,   1709251199,
                                    -11644473600};
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> any(-62167219200, 253402300799);
  for (int i = 0; i < 200000; ++i) secs.push_back(any(rng));
  google::protobuf::Timestamp ts;
  char buf[64];
  for (const std::int64_t s : secs) {
    const int nanos = static_cast<int>(static_cast<std::uint64_t>(s) % 1000000000);
    ts.set_seconds(s);
    ts.set_nanos(nanos);
    const std::size_t n = rfc3339(ts, buf);
    ASSERT_EQ(std::string(buf, n), reference(s, nanos)) << s;
    ASSERT_EQ(rfc3339(ts), reference(s, nanos)) << s;
  }
  // Past 9999 the general path: more digits, no truncation.
  ts.set_seconds(253402300800);
  ts.set_nanos(0);
  EXPECT_EQ(rfc3339(ts), "10000-01-01T00:00:00.000000Z");
}

}  // namespace intentlog
