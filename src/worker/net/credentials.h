// Credentials: the consumer tokens of intentlog.consumers as the worker
// checks Hellos against them. A token is NAME/SECRET; the worker holds the
// salt and sha256(salt || SECRET) of each active consumer (never a token),
// with the group and domain patterns it grants ('*' matches any run of
// characters; no domain patterns: every domain). Plain C++: the Server
// refreshes it from SQL and enforces changes on live sessions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace intentlog {

struct ConsumerCredential {
  std::string name;
  std::string salt;  // bytes
  std::string hash;  // sha256(salt || secret), 32 bytes
  std::vector<std::string> groups;
  std::optional<std::vector<std::string>> domains;  // none: every domain

  bool operator==(const ConsumerCredential& o) const {
    return name == o.name && salt == o.salt && hash == o.hash && groups == o.groups && domains == o.domains;
  }
};

// '*' matches any run of characters (also none); everything else itself.
bool pattern_matches(std::string_view pattern, std::string_view name);

// sha256 of bytes, 32 bytes.
std::string sha256(std::string_view bytes);

class Credentials {
 public:
  // Replaces the set; true when it differs from the one held.
  bool replace(std::vector<ConsumerCredential> all);
  // The consumer a token names when its secret matches; nullptr otherwise
  // (malformed, unknown name, wrong secret: one answer, so that a prober
  // learns nothing). The hash comparison takes constant time.
  const ConsumerCredential* verify(std::string_view token) const;
  const ConsumerCredential* find(const std::string& name) const;
  std::size_t size() const { return by_name_.size(); }
  bool loaded() const { return loaded_; }

 private:
  std::unordered_map<std::string, ConsumerCredential> by_name_;
  bool loaded_ = false;
};

// Why consumer `c` may not join `group` reading `domains`; empty when it may.
std::string denied(const ConsumerCredential& c, const std::string& group, const std::vector<std::string>& domains);

}  // namespace intentlog
