// Leases: which worker streams which partition of a (group, domain)
// (docs/DESIGN.md, "Delivery"). The only code that calls intentlog.lease_*:
// for every (group, domain) with a member here it takes an even share of the
// partitions and renews it every third of the lease time, all of a group's
// domains in one call; it gives them back when the group's last member here
// leaves, so another worker's members take over at once instead of after
// expiry. A lease not renewed for a whole lease time is treated as lost:
// another worker may own it now.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "worker/delivery/context.h"

namespace intentlog {

// One group domain's answer to a renewal: the partitions held, or why it failed.
struct LeaseOutcome {
  std::vector<int> partitions;
  std::optional<std::string> error;
};

class Leases {
 public:
  using Clock = std::chrono::steady_clock;
  // The partitions this worker holds now (after an acquire or renewal).
  using Held = std::function<void(GroupDomain&, const std::vector<int>& partitions)>;

  Leases(DeliveryContext& ctx, Held on_held) : ctx_(ctx), on_held_(std::move(on_held)) {}

  // Takes or renews this worker's share of each of `group`'s domains `gds`,
  // in one call (one call in flight per group domain: those with one are
  // left out).
  void acquire(const std::string& group, const std::vector<GroupDomain*>& gds);
  // No renewal succeeded for a whole lease time.
  bool expired(const GroupDomain& gd, Clock::time_point now) const {
    return !gd.streams.empty() && now - gd.lease_ok_at > ctx_.cfg.lease_ttl;
  }
  // The group domain was retired: stores the final cursors (partition,
  // cursor), then releases every lease of it; `done` runs either way.
  void release(const GroupDomainKey& key, std::vector<std::pair<int, std::string>> finals, std::function<void()> done);

 private:
  void finish(const GroupDomainKey& key, std::uint64_t generation, const LeaseOutcome& outcome);

  DeliveryContext& ctx_;
  Held on_held_;
};

// intentlog.lease_acquire_all for `domains` of `group`: an outcome for every
// domain. When the call fails on an SQL error (a domain dropped meanwhile,
// ...), each domain is asked on its own (intentlog.lease_acquire), so that
// one bad domain does not stop the renewals of the others. A lost connection
// throws. On a connection of Store::conn(), which prepares the statement
// (kLeaseAcquireAllSql, named "lease_acquire_all").
extern const char kLeaseAcquireAllSql[];
std::map<std::string, LeaseOutcome> lease_acquire_all(pqxx::connection& conn, const std::string& worker,
                                                      const std::string& group, const std::vector<std::string>& domains,
                                                      std::int64_t ttl_ms);
// intentlog.lease_release on a connection (`partitions` null: all of them).
void lease_release(pqxx::connection& conn, const std::string& worker, const std::string& group,
                   const std::string& domain, const std::vector<int>* partitions);

}  // namespace intentlog
