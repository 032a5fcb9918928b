// Encoding of length-delimited Protobuf frames: varint byte length, then the
// message; readable by FrameReader and by the official runtimes' delimited
// readers (C++ ParseDelimitedFromZeroCopyStream, Java parseDelimitedFrom,
// Go protodelim.UnmarshalFrom).
#pragma once

#include <google/protobuf/message_lite.h>

#include <cstddef>
#include <string>

namespace intentlog {

// Appends one frame holding `msg` to `out`. Returns false (and appends
// nothing) if the message is larger than `max_frame_bytes`.
bool append_frame(const google::protobuf::MessageLite& msg, std::string* out, std::size_t max_frame_bytes = 0x7fffffff);

// Size of the frame append_frame would write for a message of `body_bytes`.
std::size_t frame_size(std::size_t body_bytes);

}  // namespace intentlog
