// Helpers for the worker's structured logs: key=value lines, values quoted
// when they need it, so `grep event=session_closed` and logfmt parsers work.
#pragma once

#include <string>
#include <string_view>

namespace intentlog {

// A logfmt value: bare if it has no space, quote, '=' or control character,
// else double-quoted with '"', '\\' and control characters escaped.
std::string q(std::string_view v);

// Sets up spdlog: stderr, UTC timestamps, "ts=... level=... " prefix.
void setup_logging(const std::string& level, const std::string& program);

}  // namespace intentlog
