// Access: who a Hello on a TCP listener is, and what it may read. Either the
// holder of the shared --token-file token (every group and domain: the
// simple mode for a first user) or, with --auth consumers, a consumer of
// intentlog.consumers (its group and domain grants). Keeps the live sessions
// of consumers, and closes those whose consumer was revoked, got a new token
// or lost the grant they use, when the credentials are refreshed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "worker/net/credentials.h"
#include "worker/worker_config.h"

namespace intentlog {

class Session;

class Access {
 public:
  explicit Access(const WorkerConfig& cfg) : cfg_(cfg) {}

  // The identity a token proves: "" for the shared token, else the
  // consumer's name; nothing when it proves none.
  std::optional<std::string> identify(const std::string& token) const;
  // Why `consumer` may not join `group` reading `domains` ("" when it may;
  // the shared token may do everything).
  std::string denied(const std::string& consumer, const std::string& group,
                     const std::vector<std::string>& domains) const;

  void joined(std::uint64_t session_id, const std::string& consumer, const std::string& group,
              std::vector<std::string> domains, std::weak_ptr<Session> session);
  void left(std::uint64_t session_id) { live_.erase(session_id); }

  // New credentials from SQL; closes the sessions they no longer allow.
  // Returns how many were closed.
  std::size_t update(std::vector<ConsumerCredential> all);
  const Credentials& credentials() const { return credentials_; }

 private:
  struct Live {
    std::string consumer;
    std::string hash;  // of the token the session proved: a new token ends it
    std::string group;
    std::vector<std::string> domains;
    std::weak_ptr<Session> session;
  };

  const WorkerConfig& cfg_;
  Credentials credentials_;
  std::unordered_map<std::uint64_t, Live> live_;
};

}  // namespace intentlog
