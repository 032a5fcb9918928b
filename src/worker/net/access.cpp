#include "worker/net/access.h"

#include <utility>

#include "worker/net/session.h"

namespace intentlog {
namespace {

// Constant time in the length of the secret, so that timing does not reveal
// how much of a guessed token matched.
bool token_matches(const std::string& given, const std::string& secret) {
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (std::size_t i = 0; i < secret.size(); ++i) {
    const char g = i < given.size() ? given[i] : 0;
    diff |= static_cast<unsigned char>(g ^ secret[i]);
  }
  return diff == 0;
}

}  // namespace

std::optional<std::string> Access::identify(const std::string& token) const {
  if (!cfg_.token.empty() && token_matches(token, cfg_.token)) return std::string();
  if (cfg_.consumer_auth) {
    if (const ConsumerCredential* c = credentials_.verify(token)) return c->name;
  }
  return std::nullopt;
}

std::string Access::denied(const std::string& consumer, const std::string& group,
                           const std::vector<std::string>& domains) const {
  if (consumer.empty()) return std::string();
  const ConsumerCredential* c = credentials_.find(consumer);
  if (c == nullptr) return "consumer " + consumer + " was revoked";
  return intentlog::denied(*c, group, domains);
}

void Access::joined(std::uint64_t session_id, const std::string& consumer, const std::string& group,
                    std::vector<std::string> domains, std::weak_ptr<Session> session) {
  const ConsumerCredential* c = credentials_.find(consumer);
  live_[session_id] = Live{consumer, c ? c->hash : std::string(), group, std::move(domains), std::move(session)};
}

std::size_t Access::update(std::vector<ConsumerCredential> all) {
  if (!credentials_.replace(std::move(all))) return 0;
  // Collected first: failing a session makes it leave live_.
  std::vector<std::pair<std::shared_ptr<Session>, std::pair<v1::ErrorCode, std::string>>> ending;
  for (const auto& [id, l] : live_) {
    auto s = l.session.lock();
    if (!s) continue;
    const ConsumerCredential* c = credentials_.find(l.consumer);
    if (c == nullptr) {
      ending.push_back({s, {v1::ERROR_UNAUTHENTICATED, "consumer " + l.consumer + " was revoked"}});
    } else if (c->hash != l.hash) {
      ending.push_back({s, {v1::ERROR_UNAUTHENTICATED, "consumer " + l.consumer + " has a new token"}});
    } else if (std::string why = intentlog::denied(*c, l.group, l.domains); !why.empty()) {
      ending.push_back({s, {v1::ERROR_PERMISSION_DENIED, why}});
    }
  }
  for (auto& [s, e] : ending) s->fail(e.first, e.second);
  return ending.size();
}

}  // namespace intentlog
