#include "worker/delivery/catalog.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "worker/log_fields.h"

namespace intentlog {

void Catalog::refresh(std::function<void()> then) {
  waiters_.push_back(std::move(then));
  if (loading_) return;
  loading_ = true;
  ctx_.db.run([](Store& s) { return std::make_pair(s.domains(), load_delivery_settings(s.conn())); },
              [this](std::pair<std::vector<DomainRow>, std::map<std::string, DeliverySettings>> loaded) {
                domains_.clear();
                for (auto& r : loaded.first) domains_[r.name] = DomainInfo{r.partitions, r.durability, {}};
                for (auto& [name, settings] : loaded.second) {
                  if (auto c = domains_.find(name); c != domains_.end()) c->second.delivery = settings;
                }
                finish();
              },
              [this](const std::string& error) {
                spdlog::warn("event=catalog_failed error={}", q(error));
                finish();
              });
}

void Catalog::finish() {
  loading_ = false;
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) w();
}

}  // namespace intentlog
