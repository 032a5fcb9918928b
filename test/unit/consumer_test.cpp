// The consumer client library against a peer on a real Unix socket that
// plays the worker's side of the wire (no worker, no server).
#include "client/consumer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <asio.hpp>
#include <string>
#include <vector>

#include "client/schema_cache.h"
#include "common/frame_reader.h"
#include "common/frame_writer.h"

namespace intentlog::client {
namespace {

class FakeWorker {
 public:
  explicit FakeWorker(asio::io_context& io)
      : path_("/tmp/intentlog-client-test-" + std::to_string(::getpid()) + ".sock"),
        acceptor_(io),
        peer_(io),
        reader_(1 << 20) {
    ::unlink(path_.c_str());
    acceptor_.open(asio::local::stream_protocol());
    acceptor_.bind(asio::local::stream_protocol::endpoint(path_));
    acceptor_.listen();
  }
  ~FakeWorker() { ::unlink(path_.c_str()); }
  Endpoint endpoint() const { return Endpoint{Endpoint::Kind::kUnix, path_, "", 0}; }
  void accept() { acceptor_.accept(peer_); }
  void send(const v1::ServerFrame& f) {
    std::string buf;
    append_frame(f, &buf);
    asio::write(peer_, asio::buffer(buf));
  }
  // The next frame the consumer wrote (blocking).
  v1::ClientFrame next() {
    for (;;) {
      v1::ClientFrame f;
      const auto st = reader_.next(&f);
      if (st == FrameReader::Status::kFrame) return f;
      EXPECT_EQ(st, FrameReader::Status::kNeedMore);
      char buf[4096];
      const std::size_t n = peer_.read_some(asio::buffer(buf));
      reader_.feed(buf, n);
    }
  }
  void close() { peer_.close(); }

 private:
  std::string path_;
  asio::local::stream_protocol::acceptor acceptor_;
  asio::local::stream_protocol::socket peer_;
  FrameReader reader_;
};

v1::Event event(const std::string& key, std::int64_t seq) {
  v1::Event e;
  e.set_domain("orders");
  e.set_partition(3);
  e.set_seq(seq);
  e.set_key(key);
  return e;
}

TEST(Consumer, HelloCreditAckNackAndHeartbeats) {
  asio::io_context io;
  FakeWorker worker(io);
  Consumer c(io);
  std::string error;
  ASSERT_TRUE(c.connect(worker.endpoint(), &error)) << error;
  worker.accept();

  std::vector<v1::Batch> batches;
  std::string welcomed;
  Consumer::Handlers h;
  h.welcome = [&](const v1::Welcome& w) { welcomed = w.worker_id(); };
  h.batch = [&](const v1::Batch& b) {
    batches.push_back(b);
    c.ack(b.events(0));
    c.nack(Consumer::id_of(b.events(1)), "no");
    c.credit(2);
    io.stop();
  };
  c.start(h);

  HelloOptions hello;
  hello.group = "g";
  hello.domains = {"orders", "users"};
  hello.start = v1::START_EARLIEST;
  hello.initial_credit = 5;
  hello.client_name = "test";
  ASSERT_TRUE(c.hello(hello));
  const v1::ClientFrame got = worker.next();
  ASSERT_TRUE(got.has_hello());
  EXPECT_EQ(got.hello().protocol_version(), 1u);
  EXPECT_EQ(got.hello().group(), "g");
  EXPECT_EQ(got.hello().domains_size(), 2);
  EXPECT_EQ(got.hello().start(), v1::START_EARLIEST);
  EXPECT_EQ(got.hello().initial_credit(), 5u);

  v1::ServerFrame w;
  w.mutable_welcome()->set_worker_id("w1");
  worker.send(w);
  v1::ServerFrame hb;
  hb.mutable_heartbeat();
  worker.send(hb);
  v1::ServerFrame b;
  *b.mutable_batch()->add_events() = event("a", 7);
  *b.mutable_batch()->add_events() = event("b", 8);
  worker.send(b);
  io.run();

  EXPECT_EQ(welcomed, "w1");
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_TRUE(worker.next().has_heartbeat());  // answered by the library
  const v1::ClientFrame ack = worker.next();
  ASSERT_TRUE(ack.has_ack());
  ASSERT_EQ(ack.ack().events_size(), 1);
  EXPECT_EQ(ack.ack().events(0).seq(), 7);
  EXPECT_EQ(ack.ack().events(0).partition(), 3);
  const v1::ClientFrame nack = worker.next();
  ASSERT_TRUE(nack.has_nack());
  EXPECT_EQ(nack.nack().event().seq(), 8);
  EXPECT_EQ(nack.nack().error(), "no");
  const v1::ClientFrame credit = worker.next();
  ASSERT_TRUE(credit.has_credit());
  EXPECT_EQ(credit.credit().events(), 2u);
}

TEST(Consumer, ErrorFrameEndsTheConnection) {
  asio::io_context io;
  FakeWorker worker(io);
  Consumer c(io);
  std::string error;
  ASSERT_TRUE(c.connect(worker.endpoint(), &error)) << error;
  worker.accept();
  v1::ErrorCode code = v1::ERROR_UNSPECIFIED;
  bool closed = false;
  Consumer::Handlers h;
  h.error = [&](const v1::Error& e) { code = e.code(); };
  h.closed = [&](const std::string&) { closed = true; };
  c.start(h);
  v1::ServerFrame f;
  f.mutable_error()->set_code(v1::ERROR_UNKNOWN_DOMAIN);
  f.mutable_error()->set_message("nope");
  worker.send(f);
  io.run();
  EXPECT_EQ(code, v1::ERROR_UNKNOWN_DOMAIN);
  EXPECT_FALSE(closed);
  EXPECT_FALSE(c.open());
  EXPECT_FALSE(c.credit(1));
}

TEST(Consumer, LostConnectionIsReportedOnce) {
  asio::io_context io;
  FakeWorker worker(io);
  Consumer c(io);
  std::string error;
  ASSERT_TRUE(c.connect(worker.endpoint(), &error)) << error;
  worker.accept();
  std::vector<std::string> reasons;
  Consumer::Handlers h;
  h.closed = [&](const std::string& why) { reasons.push_back(why); };
  c.start(h);
  worker.close();
  io.run();
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_EQ(reasons[0].rfind("connection closed by the worker: ", 0), 0u) << reasons[0];
  EXPECT_FALSE(c.open());
}

TEST(Consumer, ConnectFailureSaysWhy) {
  asio::io_context io;
  Consumer c(io);
  std::string error;
  EXPECT_FALSE(c.connect(Endpoint{Endpoint::Kind::kUnix, "/nonexistent/intentlog.sock", "", 0}, &error));
  EXPECT_FALSE(error.empty());
}

TEST(SchemaCache, AsksOncePerVersionAndUnblocksOnAnswer) {
  SchemaCache cache;
  v1::Batch b;
  v1::Event e = event("a", 1);
  e.set_schema_version(2);
  e.set_payload("\x08\x01");
  *b.add_events() = e;
  *b.add_events() = e;
  v1::Event plain = event("b", 2);  // no schema: never waits
  *b.add_events() = plain;
  const auto asks = cache.to_request(b);
  ASSERT_EQ(asks.size(), 1u);
  EXPECT_EQ(asks[0], (SchemaCache::Key{"orders", 2}));
  EXPECT_TRUE(cache.to_request(b).empty());  // asked already
  EXPECT_FALSE(cache.ready(b));
  v1::Schema none;
  none.set_domain("orders");
  none.set_schema_version(2);
  none.set_error("no such schema");
  std::string error;
  EXPECT_FALSE(cache.add(none, &error));
  EXPECT_EQ(error, "no such schema");
  EXPECT_TRUE(cache.ready(b));  // undecodable, but answered
  EXPECT_EQ(cache.codec(e), nullptr);
  EXPECT_TRUE(cache.to_request(b).empty());
}

}  // namespace
}  // namespace intentlog::client
