// How intentlog-tail prints what it receives: one JSON object per line (the
// Event fields, payload in base64, headers as the JSON object they are), or a
// short human-readable text line.
//
// Written by hand rather than with google::protobuf::util::MessageToJsonString:
// proto3 JSON would print seq and expected_version (int64) as strings, omit
// null fields instead of printing null, give timestamps 0, 3, 6 or 9
// fractional digits, and quote headers_json and state JSON instead of
// embedding them; consumers of these lines (and the tests) read numbers,
// nulls, six-digit timestamps and embedded objects. Decoded payloads
// ("payload_json") are protobuf's own JSON (PayloadCodec::to_json).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "intentlog/v1/event.pb.h"

namespace intentlog {

std::string base64(std::string_view bytes);
// A JSON string literal (with quotes) for UTF-8 text; invalid UTF-8 bytes
// are replaced by U+FFFD so the line stays valid JSON.
std::string json_string(std::string_view text);
// RFC 3339 in UTC with microseconds: 2026-01-02T03:04:05.123456Z.
std::string rfc3339(const google::protobuf::Timestamp& t);
// The same into `buf` (at least 64 bytes); returns its length.
std::size_t rfc3339(const google::protobuf::Timestamp& t, char* buf);

std::string event_json(const v1::Event& e);
std::string event_text(const v1::Event& e);
std::string gap_json(const v1::Gap& g);
std::string gap_text(const v1::Gap& g);

}  // namespace intentlog
