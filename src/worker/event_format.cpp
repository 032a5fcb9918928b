#include "worker/event_format.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace intentlog {

std::string base64(std::string_view in) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n;
  unsigned min;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) {
    n = 2;
    min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3;
    min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  unsigned cp = c & (0xff >> (n + 1));
  for (std::size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    const std::size_t n = utf8_length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(s.data() + i, n);
      i += n;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
    ++i;
  }
  return out + "\"";
}

namespace {

// Years 0000-9999, by hand: gmtime_r and snprintf were 6% of the Kafka
// publisher's event-loop thread (one appended_at header per record). Days to
// a civil date as in H. Hinnant's "chrono-compatible low-level date
// algorithms" (days_from_civil's inverse).
bool rfc3339_fast(std::int64_t secs, std::int32_t nanos, char* buf) {
  constexpr std::int64_t kMin = -62167219200;  // 0000-01-01T00:00:00Z
  constexpr std::int64_t kMax = 253402300799;  // 9999-12-31T23:59:59Z
  if (secs < kMin || secs > kMax || nanos < 0 || nanos > 999999999) return false;
  std::int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  const int year = static_cast<int>(yoe + era * 400 + (month <= 2));
  auto put = [](char* at, int v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) at[i] = static_cast<char>('0' + v % 10);
  };
  put(buf, year, 4);
  buf[4] = '-';
  put(buf + 5, month, 2);
  buf[7] = '-';
  put(buf + 8, day, 2);
  buf[10] = 'T';
  put(buf + 11, static_cast<int>(rem / 3600), 2);
  buf[13] = ':';
  put(buf + 14, static_cast<int>(rem / 60 % 60), 2);
  buf[16] = ':';
  put(buf + 17, static_cast<int>(rem % 60), 2);
  buf[19] = '.';
  put(buf + 20, nanos / 1000, 6);
  buf[26] = 'Z';
  buf[27] = '\0';
  return true;
}

}  // namespace

std::size_t rfc3339(const google::protobuf::Timestamp& t, char* buf) {
  if (rfc3339_fast(t.seconds(), t.nanos(), buf)) return 27;
  const std::time_t secs = static_cast<std::time_t>(t.seconds());
  std::tm tm{};
  gmtime_r(&secs, &tm);
  // tm_year + 1900 overflows int for the last years gmtime_r accepts.
  const int n =
      std::snprintf(buf, 64, "%04lld-%02d-%02dT%02d:%02d:%02d.%06dZ", static_cast<long long>(tm.tm_year) + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, t.nanos() / 1000);
  return n < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(n), 63);
}

std::string rfc3339(const google::protobuf::Timestamp& t) {
  char buf[64];
  return std::string(buf, rfc3339(t, buf));
}

std::string event_json(const v1::Event& e) {
  // Appended into one buffer: a consumer prints one of these per event.
  std::string s;
  s.reserve(192 + e.domain().size() + e.key().size() + e.op().size() + e.payload().size() / 3 * 4 +
            e.headers_json().size());
  s += "{\"domain\":";
  s += json_string(e.domain());
  s += ",\"partition\":";
  s += std::to_string(e.partition());
  s += ",\"seq\":";
  s += std::to_string(e.seq());
  s += ",\"key\":";
  s += json_string(e.key());
  s += ",\"op\":";
  s += json_string(e.op());
  s += ",\"payload\":\"";
  s += base64(e.payload());
  s += "\",\"schema_version\":";
  s += std::to_string(e.schema_version());
  s += ",\"expected_version\":";
  s += e.has_expected_version() ? std::to_string(e.expected_version()) : "null";
  // headers_json is jsonb's own text output: valid JSON, embedded as is.
  s += ",\"headers\":";
  s += e.headers_json().empty() ? std::string_view("null") : std::string_view(e.headers_json());
  s += ",\"appended_at\":";
  if (e.has_appended_at()) {
    char buf[64];
    s += '"';
    s.append(buf, rfc3339(e.appended_at(), buf));
    s += '"';
  } else {
    s += "null";
  }
  s += ",\"attempt\":";
  s += std::to_string(e.attempt());
  if (e.has_state()) {
    const v1::State& st = e.state();
    s += ",\"state\":{\"source\":" + json_string(st.source() == v1::STATE_SOURCE_STANDBY   ? "standby"
                                                 : st.source() == v1::STATE_SOURCE_PRIMARY ? "primary"
                                                                                           : "unspecified");
    s += ",\"version\":" + (st.has_version() ? std::to_string(st.version()) : "null");
    s += ",\"reads\":" + std::to_string(st.reads());
    // json is the database's own json/jsonb text: valid JSON, embedded as is.
    if (st.value_case() == v1::State::kJson) s += ",\"json\":" + (st.json().empty() ? "null" : st.json());
    if (st.value_case() == v1::State::kBytes) s += ",\"bytes\":\"" + base64(st.bytes()) + "\"";
    s += "}";
  }
  s += '}';
  return s;
}

std::string event_text(const v1::Event& e) {
  std::string s = (e.has_appended_at() ? rfc3339(e.appended_at()) : std::string("-")) + " " + e.domain() + "/" +
                  std::to_string(e.partition()) + "/" + std::to_string(e.seq()) + " key=" + json_string(e.key()) +
                  " op=" + e.op() + " payload=" + std::to_string(e.payload().size()) + "B";
  if (e.has_expected_version()) s += " expected_version=" + std::to_string(e.expected_version());
  if (!e.headers_json().empty()) s += " headers=" + e.headers_json();
  if (e.attempt() > 1) s += " attempt=" + std::to_string(e.attempt());
  if (e.has_state()) {
    s += std::string(" state=") + (e.state().source() == v1::STATE_SOURCE_STANDBY ? "standby" : "primary") + "@" +
         (e.state().has_version() ? std::to_string(e.state().version()) : "none");
  }
  return s;
}

std::string gap_json(const v1::Gap& g) {
  return "{\"gap\":{\"domain\":" + json_string(g.domain()) + ",\"partition\":" + std::to_string(g.partition()) +
         ",\"first_seq\":" + std::to_string(g.first_seq()) + ",\"last_seq\":" + std::to_string(g.last_seq()) +
         ",\"gap_id\":" + std::to_string(g.gap_id()) + ",\"detected_at\":\"" + rfc3339(g.detected_at()) + "\"}}";
}

std::string gap_text(const v1::Gap& g) {
  return "GAP " + g.domain() + "/" + std::to_string(g.partition()) + " seqs " + std::to_string(g.first_seq()) + ".." +
         std::to_string(g.last_seq()) + " may have been lost (detected " + rfc3339(g.detected_at()) + ")";
}

}  // namespace intentlog
