// Membership and the Sink seam without a server: the round-robin assignment,
// and a join refused through the Sink interface (a DbPool that cannot
// connect leaves the catalog empty, so every domain is unknown).
#include "worker/delivery/membership.h"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <memory>
#include <string>
#include <vector>

#include "worker/coordinator.h"
#include "worker/delivery/sink.h"

namespace intentlog {
namespace {

TEST(RoundRobin, SpreadsAscendingPartitionsOverMembers) {
  const auto owners = round_robin({5, 1, 3, 0}, {7, 9});
  ASSERT_EQ(owners.size(), 4u);
  EXPECT_EQ(owners.at(0), 7u);
  EXPECT_EQ(owners.at(1), 9u);
  EXPECT_EQ(owners.at(3), 7u);
  EXPECT_EQ(owners.at(5), 9u);
}

TEST(RoundRobin, NoMemberMeansUnassigned) {
  const auto owners = round_robin({0, 1}, {});
  EXPECT_EQ(owners.at(0), 0u);
  EXPECT_EQ(owners.at(1), 0u);
}

TEST(RoundRobin, MoreMembersThanPartitions) {
  const auto owners = round_robin({2}, {4, 5, 6});
  EXPECT_EQ(owners.at(2), 4u);
}

// A sink that records what the worker does to it.
class RecordingSink : public Sink {
 public:
  explicit RecordingSink(std::uint64_t id) : id_(id) {}
  std::uint64_t id() const override { return id_; }
  std::uint32_t capacity() const override { return 10; }
  void take_capacity(std::uint32_t) override {}
  void return_capacity(std::uint32_t) override {}
  void joined(const v1::Welcome&) override { ++joins; }
  void assigned(const v1::Assignment&) override { ++assignments; }
  void deliver(v1::Batch) override { ++batches; }
  void gap(const v1::Gap&) override {}
  void close(v1::ErrorCode c, const std::string& m) override {
    code = c;
    message = m;
  }
  int joins = 0;
  int assignments = 0;
  int batches = 0;
  v1::ErrorCode code = v1::ERROR_UNSPECIFIED;
  std::string message;

 private:
  std::uint64_t id_;
};

TEST(Membership, UnknownDomainClosesTheSink) {
  asio::io_context io;
  WorkerConfig cfg;
  DbPool db(io, "host=/nonexistent-intentlog-test dbname=none connect_timeout=1", 1);
  metrics::Registry registry;
  Coordinator coordinator(io, cfg, db, registry);
  auto sink = std::make_shared<RecordingSink>(allocate_member_id());
  JoinRequest req;
  req.group = "g";
  req.domains = {"orders"};
  coordinator.add_member(sink, req);
  // The catalog read fails on the pool thread; its answer is posted here.
  auto work = asio::make_work_guard(io);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (sink->code == v1::ERROR_UNSPECIFIED && std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds(20));
  }
  db.stop();
  EXPECT_EQ(sink->code, v1::ERROR_UNKNOWN_DOMAIN);
  EXPECT_NE(sink->message.find("orders"), std::string::npos);
  EXPECT_EQ(sink->joins, 0);
  EXPECT_EQ(sink->assignments, 0);
  // Removed: acks from it are ignored, and it can leave again harmlessly.
  coordinator.ack(sink->id(), {});
  coordinator.leave(sink->id());
}

TEST(MemberIds, AreUnique) {
  const std::uint64_t a = allocate_member_id();
  const std::uint64_t b = allocate_member_id();
  EXPECT_NE(a, b);
  EXPECT_NE(a, 0u);
}

}  // namespace
}  // namespace intentlog
