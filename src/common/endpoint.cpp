#include "common/endpoint.h"

#include <charconv>

#include "common/cpp_only.h"  // last: see there

namespace intentlog {

std::string Endpoint::to_string() const {
  if (kind == Kind::kUnix) return "unix:" + path;
  const bool v6 = host.find(':') != std::string::npos;
  return "tcp:" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* error) {
  Endpoint e;
  if (text.rfind("unix:", 0) == 0) {
    e.kind = Endpoint::Kind::kUnix;
    e.path = std::string(text.substr(5));
    if (e.path.empty()) {
      *error = "empty Unix socket path in '" + std::string(text) + "'";
      return std::nullopt;
    }
    if (e.path.size() >= 108) {  // sizeof(sockaddr_un::sun_path)
      *error = "Unix socket path too long (max 107 bytes): " + e.path;
      return std::nullopt;
    }
    return e;
  }
  if (text.rfind("tcp:", 0) == 0) {
    e.kind = Endpoint::Kind::kTcp;
    const std::string_view rest = text.substr(4);
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) {
      *error = "expected tcp:HOST:PORT, got '" + std::string(text) + "'";
      return std::nullopt;
    }
    std::string_view host = rest.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::string_view port = rest.substr(colon + 1);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      *error = "invalid TCP port in '" + std::string(text) + "'";
      return std::nullopt;
    }
    e.host = std::string(host);
    e.port = static_cast<unsigned short>(value);
    return e;
  }
  *error = "endpoint must start with unix: or tcp:, got '" + std::string(text) + "'";
  return std::nullopt;
}

}  // namespace intentlog
