// FrameReader: incremental decoder of length-delimited Protobuf frames (a
// base-128 varint byte length, then the message), the framing of the official
// runtimes' delimited helpers.
//
// It is fed whatever a socket read returned and hands out whole frames. The
// length prefix is checked against the limit as soon as it is complete, before
// any of the body is buffered, so a peer announcing a 1 GiB frame costs us
// nothing but the error: the buffer never holds more than one frame plus one
// read.
#pragma once

#include <google/protobuf/message_lite.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace intentlog {

class FrameReader {
 public:
  enum class Status {
    kFrame,       // a whole frame was decoded
    kNeedMore,    // feed more bytes
    kTooLarge,    // the length prefix exceeds the limit
    kBadLength,   // the length prefix is not a valid 32-bit varint
    kBadMessage,  // the body does not parse as the expected message
  };

  explicit FrameReader(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

  // Appends bytes received from the peer.
  void feed(const char* data, std::size_t n);

  // The next frame body, if complete. `body` stays valid until the next call
  // to feed() or next(). After an error status the stream is unusable.
  Status next(std::string_view* body);

  // The next frame parsed into `msg`.
  Status next(google::protobuf::MessageLite* msg);

  // Length announced by the last kTooLarge prefix (for error messages).
  std::uint64_t announced_length() const { return announced_; }
  std::size_t max_frame_bytes() const { return max_frame_bytes_; }
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::size_t max_frame_bytes_;
  std::string buf_;
  std::size_t pos_ = 0;  // start of the first unconsumed byte in buf_
  std::uint64_t announced_ = 0;
  Status failed_ = Status::kNeedMore;  // sticky error, kNeedMore if none
};

const char* describe(FrameReader::Status s);

}  // namespace intentlog
