// Endpoint: where a worker listens or a consumer connects, written
// "unix:PATH" or "tcp:HOST:PORT" on command lines.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace intentlog {

struct Endpoint {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string path;  // kUnix
  std::string host;  // kTcp (an IPv6 literal may be written in brackets)
  unsigned short port = 0;

  std::string to_string() const;
};

// Parses "unix:PATH" or "tcp:HOST:PORT"; nothing and `*error` set otherwise.
std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* error);

// The Unix socket a worker listens on and a consumer connects to by default.
constexpr const char* kDefaultSocketPath = "/tmp/intentlog.sock";

}  // namespace intentlog
