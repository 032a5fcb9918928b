#include "worker/net/credentials.h"

#include <openssl/evp.h>

#include <algorithm>

namespace intentlog {

bool pattern_matches(std::string_view p, std::string_view s) {
  // Greedy with backtracking to the last '*': linear in practice, and
  // patterns and names are at most 128 bytes.
  std::size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (pi < p.size() && p[pi] == s[si]) {
      ++pi;
      ++si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::string sha256(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1) return std::string();
  return std::string(reinterpret_cast<const char*>(md), len);
}

bool Credentials::replace(std::vector<ConsumerCredential> all) {
  std::unordered_map<std::string, ConsumerCredential> next;
  for (auto& c : all) {
    std::string name = c.name;
    next.emplace(std::move(name), std::move(c));
  }
  const bool changed = !loaded_ || next != by_name_;
  by_name_ = std::move(next);
  loaded_ = true;
  return changed;
}

const ConsumerCredential* Credentials::verify(std::string_view token) const {
  const auto slash = token.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return nullptr;
  auto it = by_name_.find(std::string(token.substr(0, slash)));
  if (it == by_name_.end()) return nullptr;
  const ConsumerCredential& c = it->second;
  std::string salted = c.salt;
  salted.append(token.substr(slash + 1));
  const std::string h = sha256(salted);
  if (h.size() != c.hash.size() || h.empty()) return nullptr;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < h.size(); ++i) diff |= static_cast<unsigned char>(h[i] ^ c.hash[i]);
  return diff == 0 ? &c : nullptr;
}

const ConsumerCredential* Credentials::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &it->second;
}

std::string denied(const ConsumerCredential& c, const std::string& group, const std::vector<std::string>& domains) {
  const auto matches = [](const std::vector<std::string>& patterns, const std::string& name) {
    return std::any_of(patterns.begin(), patterns.end(),
                       [&](const std::string& p) { return pattern_matches(p, name); });
  };
  if (!matches(c.groups, group)) return "consumer " + c.name + " may not use group " + group;
  if (c.domains) {
    for (const auto& d : domains) {
      if (!matches(*c.domains, d)) return "consumer " + c.name + " may not read domain " + d;
    }
  }
  return std::string();
}

}  // namespace intentlog
