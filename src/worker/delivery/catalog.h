// Catalog: the domains the worker may deliver (intentlog.domains and their
// delivery settings), read at start and again when a member names a domain
// created since.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "worker/delivery/context.h"
#include "worker/delivery_store.h"

namespace intentlog {

struct DomainInfo {
  int partitions = 0;
  std::string durability;
  DeliverySettings delivery;
};

class Catalog {
 public:
  explicit Catalog(DeliveryContext& ctx) : ctx_(ctx) {}

  // Reads the catalog again; `then` runs once that is done (or failed: the
  // old one is kept). Calls made while a read runs wait for it.
  void refresh(std::function<void()> then);
  const DomainInfo* find(const std::string& domain) const {
    auto it = domains_.find(domain);
    return it == domains_.end() ? nullptr : &it->second;
  }

 private:
  void finish();

  DeliveryContext& ctx_;
  std::map<std::string, DomainInfo> domains_;
  bool loading_ = false;
  std::vector<std::function<void()>> waiters_;
};

}  // namespace intentlog
