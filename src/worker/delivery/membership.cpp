#include "worker/delivery/membership.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/snapshot_cursor.h"
#include "worker/delivery/retry_book.h"
#include "worker/log_fields.h"

namespace intentlog {

std::map<int, std::uint64_t> round_robin(const std::vector<int>& partitions,
                                         const std::vector<std::uint64_t>& members) {
  std::vector<int> sorted = partitions;
  std::sort(sorted.begin(), sorted.end());
  std::map<int, std::uint64_t> out;
  std::size_t i = 0;
  for (int p : sorted) out[p] = members.empty() ? 0 : members[i++ % members.size()];
  return out;
}

Membership::Membership(DeliveryContext& ctx, Catalog& catalog, Leases& leases, RetryBook& retries)
    : ctx_(ctx), catalog_(catalog), leases_(leases), retries_(retries) {}

std::vector<std::uint64_t> Membership::member_ids() const {
  std::vector<std::uint64_t> ids;
  for (const auto& [id, m] : members_) ids.push_back(id);
  return ids;
}

// ------------------------------------------------------------------ joining and leaving

void Membership::add_member(std::shared_ptr<Sink> sink, JoinRequest request) {
  if (ctx_.stopping) {
    sink->close(v1::ERROR_SHUTTING_DOWN, "worker is shutting down");
    return;
  }
  const std::uint64_t id = sink->id();
  Member& m = members_[id];
  m.sink = std::move(sink);
  m.request = std::move(request);
  bool known = true;
  for (const auto& d : m.request.domains) known = known && catalog_.find(d);
  if (known) {
    finish_join(id);
  } else {
    catalog_.refresh([this, id] { finish_join(id); });  // a domain created since the last refresh
  }
}

void Membership::finish_join(std::uint64_t id) {
  auto it = members_.find(id);
  if (it == members_.end() || ctx_.stopping) return;
  Member& m = it->second;
  const WorkerConfig& cfg = ctx_.cfg;
  v1::Welcome w;
  w.set_protocol_version(1);
  w.set_worker_id(cfg.worker_id);
  w.set_session_id(id);
  w.set_max_frame_bytes(cfg.max_frame_bytes);
  w.set_max_credit(cfg.max_credit);
  w.set_max_in_flight(static_cast<std::uint32_t>(cfg.max_in_flight));
  w.set_heartbeat_interval_ms(static_cast<std::uint32_t>(cfg.heartbeat.count()));
  w.set_idle_timeout_ms(static_cast<std::uint32_t>(cfg.idle_timeout.count()));
  for (const auto& d : m.request.domains) {
    const DomainInfo* c = catalog_.find(d);
    if (!c) {
      auto sink = m.sink;
      sink->close(v1::ERROR_UNKNOWN_DOMAIN, "intentlog domain \"" + d + "\" does not exist");
      leave(id);  // m is gone
      return;
    }
    auto* info = w.add_domains();
    info->set_name(d);
    info->set_partitions(c->partitions);
    info->set_durability(c->durability);
  }
  for (const auto& p : m.request.positions) {
    const DomainInfo* c = catalog_.find(p.domain());
    const auto& ds = m.request.domains;
    if (std::find(ds.begin(), ds.end(), p.domain()) == ds.end() || !c || p.partition() < 0 ||
        p.partition() >= c->partitions || p.after_seq() < 0) {
      auto sink = m.sink;
      sink->close(v1::ERROR_PROTOCOL, "position " + p.domain() + "/" + std::to_string(p.partition()) +
                                          " is not a partition of a requested domain");
      leave(id);
      return;
    }
  }
  m.joined = true;
  m.sink->joined(w);
  spdlog::info("event=joined session={} group={}", id, q(m.request.group));
  const std::string group = m.request.group;
  const std::vector<std::string> domains = m.request.domains;
  std::vector<GroupDomain*> opened;
  for (const auto& d : domains) reassign(join_group_domain(m, d, opened));
  leases_.acquire(group, opened);
  ctx_.wake(id);
}

// `opened` gets the group domain if this member opens it (its leases are
// still to be taken).
GroupDomain& Membership::join_group_domain(Member& m, const std::string& domain, std::vector<GroupDomain*>& opened) {
  const std::uint64_t id = m.sink->id();
  const GroupDomainKey key{m.request.group, domain};
  auto it = ctx_.groups.find(key);
  if (it == ctx_.groups.end()) {
    auto gd = std::make_unique<GroupDomain>();
    gd->group = m.request.group;
    gd->domain = domain;
    gd->generation = next_generation_++;
    gd->start = m.request.start;
    for (const auto& p : m.request.positions) {
      if (p.domain() == domain) gd->positions[p.partition()] = p.after_seq();
    }
    gd->lease_ok_at = GroupDomain::Clock::now();
    it = ctx_.groups.emplace(key, std::move(gd)).first;
    opened.push_back(it->second.get());
    if (ctx_.long_polls_changed) ctx_.long_polls_changed();
  } else if (m.request.start != v1::START_COMMITTED) {
    spdlog::info("event=start_ignored session={} group={} domain={} reason=\"group already reading here\"", id,
                 q(m.request.group), q(domain));
  }
  GroupDomain& gd = *it->second;
  gd.members.insert(std::upper_bound(gd.members.begin(), gd.members.end(), id), id);
  return gd;
}

void Membership::leave(std::uint64_t id) {
  auto it = members_.find(id);
  if (it == members_.end()) return;
  Member m = std::move(it->second);
  members_.erase(it);
  if (!m.joined) return;
  spdlog::info("event=left session={} group={}", id, q(m.request.group));
  for (const auto& d : m.request.domains) {
    GroupDomain* gd = ctx_.find_group(m.request.group, d);
    if (!gd) continue;
    gd->members.erase(std::remove(gd->members.begin(), gd->members.end(), id), gd->members.end());
    for (auto& [p, st] : gd->streams) st->scheduler.release(id);  // redelivered to the others
    if (gd->members.empty()) {
      retire({m.request.group, d});
    } else {
      reassign(*gd);
    }
  }
}

void Membership::close_all(v1::ErrorCode code, const std::string& message) {
  std::vector<std::shared_ptr<Sink>> sinks;
  for (auto& [id, m] : members_) sinks.push_back(m.sink);
  for (auto& s : sinks) {
    s->close(code, message);
    leave(s->id());
  }
}

// The last member of (group, domain) left: commit what was acknowledged and
// give the leases back at once, so another worker's members take over
// without waiting for expiry.
void Membership::retire(GroupDomainKey key) {
  auto it = ctx_.groups.find(key);
  if (it == ctx_.groups.end()) return;
  std::unique_ptr<GroupDomain> gd = std::move(it->second);
  if (gd->long_polling) ++ctx_.free_waits;
  ctx_.groups.erase(it);
  if (ctx_.long_polls_changed) ctx_.long_polls_changed();
  std::vector<std::pair<int, std::string>> finals;
  for (auto& [p, st] : gd->streams) {
    if (auto c = st->final_cursor()) finals.emplace_back(p, *c);
    retries_.flush(*st);
    ctx_.streams.erase(st->id);
  }
  ++pending_releases_;
  leases_.release(key, std::move(finals), [this] { release_done(); });
}

void Membership::release_done() {
  --pending_releases_;
  if (pending_releases_ == 0 && on_released_) {
    auto done = std::move(on_released_);
    on_released_ = nullptr;
    done();
  }
}

// ------------------------------------------------------------------ assignment

void Membership::reassign(GroupDomain& gd) {
  std::vector<int> parts;
  for (auto& [p, st] : gd.streams) parts.push_back(p);
  const std::map<int, std::uint64_t> owners = round_robin(parts, gd.members);
  for (auto& [p, st] : gd.streams) st->assigned = owners.at(p);
  for (std::uint64_t id : gd.members) rebuild_member(id);
  for (auto& [p, st] : gd.streams) st->maybe_fetch();
  for (std::uint64_t id : std::vector<std::uint64_t>(gd.members)) ctx_.wake(id);
}

void Membership::rebuild_member(std::uint64_t id) {
  Member* m = find(id);
  if (!m) return;
  m->streams.clear();
  std::set<std::pair<std::string, int>> assignment;
  for (const auto& d : m->request.domains) {
    GroupDomain* gd = ctx_.find_group(m->request.group, d);
    if (!gd) continue;
    for (auto& [p, st] : gd->streams) {
      if (st->assigned != id) continue;
      m->streams.push_back(st.get());
      assignment.emplace(d, p);
    }
  }
  if (assignment == m->assignment) return;
  m->assignment = assignment;
  v1::Assignment a;
  for (const auto& [d, p] : assignment) {
    auto* ref = a.add_partitions();
    ref->set_domain(d);
    ref->set_partition(p);
  }
  m->sink->assigned(a);
  spdlog::info("event=assigned session={} group={} partitions={}", id, q(m->request.group), assignment.size());
}

// ------------------------------------------------------------------ leases and streams

void Membership::on_leases(GroupDomain& gd, const std::vector<int>& parts) {
  const std::set<int> held(parts.begin(), parts.end());
  bool changed = false;
  for (auto it = gd.streams.begin(); it != gd.streams.end();) {
    if (held.count(it->first)) {
      ++it;
      continue;
    }
    spdlog::info("event=lease_lost group={} domain={} partition={}", q(gd.group), q(gd.domain), it->first);
    ctx_.metrics.leases_lost(gd.group, gd.domain).inc();
    close_stream(std::move(it->second));
    it = gd.streams.erase(it);
    changed = true;
  }
  for (int p : held) {
    if (gd.streams.count(p)) continue;
    open_stream(gd, p);
    changed = true;
  }
  if (gd.first_leases) {
    gd.first_leases = false;
    spdlog::info("event=leases group={} domain={} partitions={}", q(gd.group), q(gd.domain), held.size());
  }
  if (changed) {
    reassign(gd);
    check_gaps(gd.group, {&gd});
  }
}

void Membership::lease_tick() {
  const auto now = GroupDomain::Clock::now();
  std::map<std::string, std::vector<GroupDomain*>> by_group;
  for (auto& [key, gd] : ctx_.groups) {
    if (leases_.expired(*gd, now)) {
      // Could not renew for a whole lease time: another worker may own these
      // partitions now. Stop delivering them.
      spdlog::warn("event=leases_expired group={} domain={} partitions={}", q(gd->group), q(gd->domain),
                   gd->streams.size());
      ctx_.metrics.leases_lost(gd->group, gd->domain).inc(gd->streams.size());
      for (auto& [p, st] : gd->streams) close_stream(std::move(st));
      gd->streams.clear();
      reassign(*gd);
    }
    by_group[key.first].push_back(gd.get());
  }
  // One renewal and one gap query per group, whatever its number of domains.
  for (const auto& [group, gds] : by_group) {
    leases_.acquire(group, gds);
    check_gaps(group, gds);
  }
}

void Membership::open_stream(GroupDomain& gd, int partition) {
  auto st = std::make_unique<PartitionStream>(ctx_, retries_, next_stream_id_++, gd.group, gd.domain, partition);
  st->owner = &gd;
  if (const DomainInfo* c = catalog_.find(gd.domain)) {
    st->state_query = c->delivery.state_query;
    st->consistency_timeout = c->delivery.consistency_timeout;
  }
  const v1::Start start = gd.first_leases ? gd.start : v1::START_COMMITTED;
  st->started = true;
  switch (start) {
    case v1::START_EARLIEST:
      st->fetch_cursor = "0";
      break;
    case v1::START_LATEST:
      st->started = false;
      break;
    case v1::START_POSITION:
      if (auto it = gd.positions.find(partition); it != gd.positions.end()) {
        CursorState c;
        c.watermark = it->second;
        st->fetch_cursor = format_cursor(c);
      }
      break;
    default:
      break;  // the group's committed cursor
  }
  ctx_.streams[st->id] = st.get();
  PartitionStream& ref = *st;
  gd.streams[partition] = std::move(st);
  ref.keep_ticking();
  ref.maybe_start();
}

// The lease is gone (lost, or handed to another worker): store what was
// acknowledged; the new owner resumes from there and redelivers the rest.
void Membership::close_stream(std::unique_ptr<PartitionStream> st) {
  retries_.flush(*st);
  ctx_.streams.erase(st->id);
  std::optional<std::string> cursor = st->final_cursor();
  if (!cursor) return;
  ctx_.db.run(
      [g = st->group, d = st->domain, p = st->partition, c = *cursor](Store& s) {
        s.commit_cursor(g, d, p, c);
        return true;
      },
      [](bool) {}, [](const std::string&) {});
}

// Gaps not reported yet of the partitions the staged domains among `gds`
// (all of `group`) stream here, one query for all of them; each gap goes to
// the member its partition is assigned to.
void Membership::check_gaps(const std::string& group, const std::vector<GroupDomain*>& gds) {
  std::vector<std::pair<std::string, std::uint64_t>> asked;  // (domain, generation)
  std::vector<std::pair<std::string, int>> parts;
  for (GroupDomain* gd : gds) {
    const DomainInfo* c = catalog_.find(gd->domain);
    if (!c || c->durability != "staged" || gd->gaps_in_flight || gd->streams.empty()) continue;
    gd->gaps_in_flight = true;
    asked.emplace_back(gd->domain, gd->generation);
    for (auto& [p, st] : gd->streams) parts.emplace_back(gd->domain, p);
  }
  if (asked.empty()) return;
  // The group domain the answer is for, if it is still the one asked about.
  auto finish = [this, group](const std::string& domain, std::uint64_t gen) -> GroupDomain* {
    GroupDomain* g = ctx_.find_group(group, domain);
    if (!g || g->generation != gen) return nullptr;
    g->gaps_in_flight = false;
    return g;
  };
  ctx_.db.run([group, parts](Store& s) { return s.unreported_gaps(group, parts); },
              [this, asked, finish](std::vector<GapRow> gaps) {
                for (const auto& [domain, gen] : asked) {
                  if (GroupDomain* g = finish(domain, gen)) report_gaps(*g, gaps);
                }
              },
              [group, asked, finish](const std::string& error) {
                for (const auto& [domain, gen] : asked) finish(domain, gen);
                spdlog::warn("event=gaps_failed group={} error={}", q(group), q(error));
              });
}

void Membership::report_gaps(GroupDomain& gd, const std::vector<GapRow>& gaps) {
  for (const auto& row : gaps) {
    if (row.domain != gd.domain) continue;
    auto it = gd.streams.find(row.partition);
    if (it == gd.streams.end() || !it->second->assigned) continue;
    Member* m = find(it->second->assigned);
    if (!m) continue;
    v1::Gap gap;
    gap.set_domain(gd.domain);
    gap.set_partition(row.partition);
    gap.set_first_seq(row.first_seq);
    gap.set_last_seq(row.last_seq);
    gap.set_gap_id(row.gap_id);
    gap.mutable_detected_at()->set_seconds(row.detected_at_us / 1000000);
    gap.mutable_detected_at()->set_nanos(static_cast<int>(row.detected_at_us % 1000000) * 1000);
    m->sink->gap(gap);
    spdlog::warn("event=gap_reported group={} domain={} partition={} first_seq={} last_seq={}", q(gd.group),
                 q(gd.domain), row.partition, row.first_seq, row.last_seq);
    ctx_.db.run(
        [group = gd.group, id = row.gap_id](Store& s) {
          s.gap_reported(group, id);
          return true;
        },
        [](bool) {}, [](const std::string&) {});
  }
}

}  // namespace intentlog
