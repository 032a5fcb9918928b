#include "common/frame_reader.h"

#include <cstring>

#include "common/cpp_only.h"  // last: see there

namespace intentlog {
namespace {

enum class Varint { kOk, kIncomplete, kInvalid };

// Decodes a varint of at most 32 significant bits (Protobuf writes message
// lengths as uint32 varints; anything longer is a broken or hostile peer).
// Not CodedInputStream::ReadVarint32: on a partial prefix it fails exactly as
// on a malformed one, and an incremental reader must tell "wait for more
// bytes" from "close the connection".
Varint decode_length(const char* p, std::size_t n, std::uint64_t* value, std::size_t* used) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 5; ++i) {
    if (i == n) return Varint::kIncomplete;
    const auto byte = static_cast<std::uint8_t>(p[i]);
    v |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (v > 0xffffffffULL) return Varint::kInvalid;
      *value = v;
      *used = i + 1;
      return Varint::kOk;
    }
  }
  return Varint::kInvalid;
}

}  // namespace

void FrameReader::feed(const char* data, std::size_t n) {
  if (failed_ != Status::kNeedMore) return;
  // Compact before growing, so the buffer stays about one frame long.
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ >= buf_.size() / 2)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(data, n);
}

FrameReader::Status FrameReader::next(std::string_view* body) {
  if (failed_ != Status::kNeedMore) return failed_;
  const char* p = buf_.data() + pos_;
  const std::size_t n = buf_.size() - pos_;
  std::uint64_t len = 0;
  std::size_t used = 0;
  switch (decode_length(p, n, &len, &used)) {
    case Varint::kIncomplete:
      return Status::kNeedMore;
    case Varint::kInvalid:
      return failed_ = Status::kBadLength;
    case Varint::kOk:
      break;
  }
  if (len > max_frame_bytes_) {
    announced_ = len;
    return failed_ = Status::kTooLarge;
  }
  if (n - used < len) return Status::kNeedMore;
  *body = std::string_view(p + used, static_cast<std::size_t>(len));
  pos_ += used + static_cast<std::size_t>(len);
  return Status::kFrame;
}

FrameReader::Status FrameReader::next(google::protobuf::MessageLite* msg) {
  std::string_view body;
  const Status s = next(&body);
  if (s != Status::kFrame) return s;
  if (!msg->ParseFromArray(body.data(), static_cast<int>(body.size()))) return failed_ = Status::kBadMessage;
  return Status::kFrame;
}

const char* describe(FrameReader::Status s) {
  switch (s) {
    case FrameReader::Status::kFrame:
      return "frame";
    case FrameReader::Status::kNeedMore:
      return "incomplete frame";
    case FrameReader::Status::kTooLarge:
      return "frame length exceeds the limit";
    case FrameReader::Status::kBadLength:
      return "malformed frame length prefix";
    case FrameReader::Status::kBadMessage:
      return "frame body does not parse";
  }
  return "unknown";
}

}  // namespace intentlog
