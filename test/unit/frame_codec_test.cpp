// Frame codec: FrameReader / append_frame, and interoperability with the
// official delimited helpers that consumers in other languages mirror.
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "common/frame_reader.h"
#include "common/frame_writer.h"
#include "intentlog/v1/stream.pb.h"

namespace intentlog {
namespace {

using Status = FrameReader::Status;

v1::ClientFrame hello(const std::string& group) {
  v1::ClientFrame f;
  f.mutable_hello()->set_group(group);
  f.mutable_hello()->add_domains("orders");
  f.mutable_hello()->set_initial_credit(100);
  return f;
}

TEST(FrameCodec, RoundTripWholeBuffer) {
  std::string wire;
  ASSERT_TRUE(append_frame(hello("g1"), &wire));
  ASSERT_TRUE(append_frame(hello("g2"), &wire));
  FrameReader r(1024);
  r.feed(wire.data(), wire.size());
  v1::ClientFrame got;
  ASSERT_EQ(r.next(&got), Status::kFrame);
  EXPECT_EQ(got.hello().group(), "g1");
  ASSERT_EQ(r.next(&got), Status::kFrame);
  EXPECT_EQ(got.hello().group(), "g2");
  EXPECT_EQ(r.next(&got), Status::kNeedMore);
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(FrameCodec, ByteAtATime) {
  std::string wire;
  v1::ServerFrame big;
  auto* ev = big.mutable_batch()->add_events();
  ev->set_payload(std::string(300, 'x'));  // a two-byte length prefix
  ev->set_key("k");
  ASSERT_TRUE(append_frame(big, &wire));
  FrameReader r(4096);
  v1::ServerFrame got;
  for (std::size_t i = 0; i + 1 < wire.size(); ++i) {
    r.feed(&wire[i], 1);
    ASSERT_EQ(r.next(&got), Status::kNeedMore) << "at byte " << i;
  }
  r.feed(&wire.back(), 1);
  ASSERT_EQ(r.next(&got), Status::kFrame);
  EXPECT_EQ(got.batch().events(0).payload().size(), 300u);
}

TEST(FrameCodec, EmptyMessageIsAFrame) {
  std::string wire;
  ASSERT_TRUE(append_frame(v1::ClientFrame(), &wire));
  EXPECT_EQ(wire, std::string(1, '\0'));
  FrameReader r(16);
  r.feed(wire.data(), wire.size());
  v1::ClientFrame got;
  EXPECT_EQ(r.next(&got), Status::kFrame);
  EXPECT_EQ(got.frame_case(), v1::ClientFrame::FRAME_NOT_SET);
}

TEST(FrameCodec, OneGibPrefixRejectedBeforeBuffering) {
  // varint(1 << 30) = 80 80 80 80 04
  const char prefix[] = {'\x80', '\x80', '\x80', '\x80', '\x04'};
  FrameReader r(1 << 20);
  r.feed(prefix, sizeof prefix);
  std::string_view body;
  EXPECT_EQ(r.next(&body), Status::kTooLarge);
  EXPECT_EQ(r.announced_length(), 1ull << 30);
  // Sticky: more bytes do not revive the stream or grow the buffer.
  r.feed("abc", 3);
  EXPECT_EQ(r.next(&body), Status::kTooLarge);
  EXPECT_LE(r.buffered(), sizeof prefix);
}

TEST(FrameCodec, LimitIsInclusive) {
  v1::ClientFrame f = hello("g");
  const std::size_t body = f.ByteSizeLong();
  std::string wire;
  ASSERT_TRUE(append_frame(f, &wire));
  FrameReader ok(body);
  ok.feed(wire.data(), wire.size());
  v1::ClientFrame got;
  EXPECT_EQ(ok.next(&got), Status::kFrame);
  FrameReader tight(body - 1);
  tight.feed(wire.data(), wire.size());
  EXPECT_EQ(tight.next(&got), Status::kTooLarge);
}

TEST(FrameCodec, WriterRefusesOversizedMessage) {
  v1::ServerFrame f;
  f.mutable_batch()->add_events()->set_payload(std::string(100, 'x'));
  std::string wire = "keep";
  EXPECT_FALSE(append_frame(f, &wire, 50));
  EXPECT_EQ(wire, "keep");
}

TEST(FrameCodec, OverlongVarintIsBadLength) {
  const std::string garbage(6, '\xff');
  FrameReader r(1 << 20);
  r.feed(garbage.data(), garbage.size());
  std::string_view body;
  EXPECT_EQ(r.next(&body), Status::kBadLength);
}

TEST(FrameCodec, VarintAbove32BitsIsBadLength) {
  const char prefix[] = {'\xff', '\xff', '\xff', '\xff', '\x7f'};  // 35 bits
  FrameReader r(1 << 20);
  r.feed(prefix, sizeof prefix);
  std::string_view body;
  EXPECT_EQ(r.next(&body), Status::kBadLength);
}

TEST(FrameCodec, UnparsableBodyIsBadMessage) {
  // Length 2, then a tag with the invalid wire type 7.
  const char wire[] = {'\x02', '\x0f', '\x00'};
  FrameReader r(1 << 20);
  r.feed(wire, sizeof wire);
  v1::ClientFrame got;
  EXPECT_EQ(r.next(&got), Status::kBadMessage);
  EXPECT_EQ(r.next(&got), Status::kBadMessage);
}

TEST(FrameCodec, BufferStaysAboutOneFrame) {
  std::string one;
  ASSERT_TRUE(append_frame(hello("group"), &one));
  FrameReader r(1024);
  v1::ClientFrame got;
  for (int i = 0; i < 10000; ++i) {
    r.feed(one.data(), one.size());
    ASSERT_EQ(r.next(&got), Status::kFrame);
  }
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(FrameCodec, ReadsOfficialDelimitedWriter) {
  std::ostringstream os;
  ASSERT_TRUE(google::protobuf::util::SerializeDelimitedToOstream(hello("official"), &os));
  ASSERT_TRUE(google::protobuf::util::SerializeDelimitedToOstream(hello("second"), &os));
  const std::string wire = os.str();
  FrameReader r(1024);
  r.feed(wire.data(), wire.size());
  v1::ClientFrame got;
  ASSERT_EQ(r.next(&got), Status::kFrame);
  EXPECT_EQ(got.hello().group(), "official");
  ASSERT_EQ(r.next(&got), Status::kFrame);
  EXPECT_EQ(got.hello().group(), "second");
}

TEST(FrameCodec, OfficialDelimitedReaderReadsOurs) {
  std::string wire;
  ASSERT_TRUE(append_frame(hello("ours"), &wire));
  ASSERT_TRUE(append_frame(hello("again"), &wire));
  google::protobuf::io::ArrayInputStream in(wire.data(), static_cast<int>(wire.size()));
  v1::ClientFrame got;
  bool clean_eof = false;
  ASSERT_TRUE(google::protobuf::util::ParseDelimitedFromZeroCopyStream(&got, &in, &clean_eof));
  EXPECT_EQ(got.hello().group(), "ours");
  ASSERT_TRUE(google::protobuf::util::ParseDelimitedFromZeroCopyStream(&got, &in, &clean_eof));
  EXPECT_EQ(got.hello().group(), "again");
}

}  // namespace
}  // namespace intentlog
