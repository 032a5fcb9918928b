#include "common/frame_writer.h"

#include <google/protobuf/io/coded_stream.h>

#include "common/cpp_only.h"  // last: see there

namespace intentlog {

using google::protobuf::io::CodedOutputStream;

bool append_frame(const google::protobuf::MessageLite& msg, std::string* out, std::size_t max_frame_bytes) {
  const std::size_t body = msg.ByteSizeLong();
  if (body > max_frame_bytes || body > 0x7fffffffu) return false;
  const std::size_t old = out->size();
  out->resize(old + frame_size(body));
  auto* p = reinterpret_cast<std::uint8_t*>(&(*out)[old]);
  p = CodedOutputStream::WriteVarint32ToArray(static_cast<std::uint32_t>(body), p);
  msg.SerializeWithCachedSizesToArray(p);
  return true;
}

std::size_t frame_size(std::size_t body_bytes) {
  return CodedOutputStream::VarintSize32(static_cast<std::uint32_t>(body_bytes)) + body_bytes;
}

}  // namespace intentlog
