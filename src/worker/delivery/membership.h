// Membership: sinks joining and leaving consumer groups, and the assignment
// of a group's partitions to its members (docs/DESIGN.md, "Delivery").
//
// A member (a Sink: a socket consumer after its Hello, or a sink the worker
// made at start) joins its group's domains. For each (group, domain) with a
// member here, Leases takes this worker's share of the partitions; every
// leased partition becomes a PartitionStream, and the streams of a group
// domain go round-robin to its members that asked for the domain. A stream
// closes when its lease is lost or the group's last member here leaves,
// after storing the cursor of what was acknowledged. Events in flight stay
// with the member that has them until it acks or leaves, so a key's order
// holds across a reassignment; a member that leaves gives its unacknowledged
// events back to their keys for the others.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "worker/delivery/catalog.h"
#include "worker/delivery/context.h"
#include "worker/delivery/leases.h"
#include "worker/delivery/partition_stream.h"
#include "worker/delivery/sink.h"

namespace intentlog {

class RetryBook;

struct Member {
  std::shared_ptr<Sink> sink;
  JoinRequest request;
  bool joined = false;
  std::vector<PartitionStream*> streams;             // assigned to it, for the Dispatcher
  std::size_t rr = 0;                                // round-robin start over streams
  std::set<std::pair<std::string, int>> assignment;  // last Assignment sent
};

// Round-robin: the i-th partition (ascending) goes to members[i % n]; 0 for
// every partition when there is no member.
std::map<int, std::uint64_t> round_robin(const std::vector<int>& partitions, const std::vector<std::uint64_t>& members);

class Membership {
 public:
  Membership(DeliveryContext& ctx, Catalog& catalog, Leases& leases, RetryBook& retries);

  // Joins `sink` to its group's domains; the sink hears joined() and
  // assigned(), or close() if the request names an unknown domain or a bad
  // position. The request's shape was checked by the caller
  // (Session::handle_hello for a socket; the worker's configuration).
  void add_member(std::shared_ptr<Sink> sink, JoinRequest request);
  void leave(std::uint64_t member);
  // Shutdown: closes every member, which retires every group domain.
  void close_all(v1::ErrorCode code, const std::string& message);

  // Leases' report: open streams for new partitions, close lost ones.
  void on_leases(GroupDomain& gd, const std::vector<int>& partitions);
  // Every third of the lease time: drops expired leases, renews, reports gaps.
  void lease_tick();

  Member* find(std::uint64_t id) {
    auto it = members_.find(id);
    return it == members_.end() || !it->second.joined ? nullptr : &it->second;
  }
  std::vector<std::uint64_t> member_ids() const;
  std::size_t size() const { return members_.size(); }
  // Retired group domains whose final commits and lease release still run;
  // `done` runs when none is left.
  int pending_releases() const { return pending_releases_; }
  void when_released(std::function<void()> done) { on_released_ = std::move(done); }

 private:
  void finish_join(std::uint64_t id);
  GroupDomain& join_group_domain(Member& m, const std::string& domain, std::vector<GroupDomain*>& opened);
  void retire(GroupDomainKey key);
  void release_done();
  void reassign(GroupDomain& gd);
  void rebuild_member(std::uint64_t id);
  void open_stream(GroupDomain& gd, int partition);
  void close_stream(std::unique_ptr<PartitionStream> st);
  void check_gaps(const std::string& group, const std::vector<GroupDomain*>& gds);
  void report_gaps(GroupDomain& gd, const std::vector<GapRow>& gaps);

  DeliveryContext& ctx_;
  Catalog& catalog_;
  Leases& leases_;
  RetryBook& retries_;
  std::unordered_map<std::uint64_t, Member> members_;
  std::uint64_t next_stream_id_ = 1;
  std::uint64_t next_generation_ = 1;
  int pending_releases_ = 0;
  std::function<void()> on_released_;
};

}  // namespace intentlog
