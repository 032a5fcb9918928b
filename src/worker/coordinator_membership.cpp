// Coordinator: consumer sessions joining and leaving groups, and the
// partition leases that decide which worker streams which partition
// (DESIGN.md, "Delivery"). A session's Hello joins its group's domains; the
// group's partitions are split among its members; a partition is streamed
// once this worker holds its lease, and closed when the lease or the last
// member goes.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/snapshot_cursor.h"
#include "worker/coordinator.h"
#include "worker/log_fields.h"

namespace intentlog {

// ------------------------------------------------------------------ sessions

void Coordinator::on_hello(const std::shared_ptr<Session>& session, const v1::Hello& hello) {
  if (stopping_) {
    session->fail(v1::ERROR_SHUTTING_DOWN, "worker is shutting down");
    return;
  }
  const std::uint64_t sid = session->id();
  Member& m = members_[sid];
  m.session = session;
  m.group = hello.group();
  m.domains.assign(hello.domains().begin(), hello.domains().end());
  m.hello = hello;
  bool known = true;
  for (const auto& d : m.domains) known = known && catalog_.count(d);
  if (known) {
    finish_hello(sid);
  } else {
    refresh_catalog([this, sid] { finish_hello(sid); });  // a domain created since the last refresh
  }
}

void Coordinator::finish_hello(std::uint64_t sid) {
  auto it = members_.find(sid);
  if (it == members_.end() || stopping_) return;
  Member& m = it->second;
  v1::Welcome w;
  w.set_protocol_version(1);
  w.set_worker_id(cfg_.worker_id);
  w.set_session_id(sid);
  w.set_max_frame_bytes(cfg_.max_frame_bytes);
  w.set_max_credit(cfg_.max_credit);
  w.set_max_in_flight(static_cast<std::uint32_t>(cfg_.max_in_flight));
  w.set_heartbeat_interval_ms(static_cast<std::uint32_t>(cfg_.heartbeat.count()));
  w.set_idle_timeout_ms(static_cast<std::uint32_t>(cfg_.idle_timeout.count()));
  for (const auto& d : m.domains) {
    auto c = catalog_.find(d);
    if (c == catalog_.end()) {
      m.session->fail(v1::ERROR_UNKNOWN_DOMAIN, "intentlog domain \"" + d + "\" does not exist");
      return;  // fail() called on_closed(): m is gone
    }
    auto* info = w.add_domains();
    info->set_name(d);
    info->set_partitions(c->second.partitions);
    info->set_durability(c->second.durability);
  }
  for (const auto& p : m.hello.positions()) {
    auto c = catalog_.find(p.domain());
    if (std::find(m.domains.begin(), m.domains.end(), p.domain()) == m.domains.end() || c == catalog_.end() ||
        p.partition() < 0 || p.partition() >= c->second.partitions || p.after_seq() < 0) {
      m.session->fail(v1::ERROR_PROTOCOL, "position " + p.domain() + "/" + std::to_string(p.partition()) +
                                              " is not a partition of a requested domain");
      return;
    }
  }
  m.joined = true;
  m.session->welcome(w);
  spdlog::info("event=joined session={} group={}", sid, q(m.group));
  std::vector<std::string> domains = m.domains;  // join may rehash nothing, but keep it simple
  for (const auto& d : domains) reassign(join_group_domain(m, d));
  pump(sid);
}

Coordinator::GroupDomain& Coordinator::join_group_domain(Member& m, const std::string& domain) {
  const GroupDomainKey key{m.group, domain};
  auto it = gds_.find(key);
  if (it == gds_.end()) {
    auto gd = std::make_unique<GroupDomain>();
    gd->group = m.group;
    gd->domain = domain;
    gd->generation = next_generation_++;
    gd->start = m.hello.start();
    for (const auto& p : m.hello.positions()) {
      if (p.domain() == domain) gd->positions[p.partition()] = p.after_seq();
    }
    gd->lease_ok_at = Clock::now();
    it = gds_.emplace(key, std::move(gd)).first;
    acquire_leases(*it->second);
  } else if (m.hello.start() != v1::START_COMMITTED) {
    spdlog::info("event=start_ignored session={} group={} domain={} reason=\"group already reading here\"",
                 m.session->id(), q(m.group), q(domain));
  }
  GroupDomain& gd = *it->second;
  gd.members.insert(std::upper_bound(gd.members.begin(), gd.members.end(), m.session->id()), m.session->id());
  return gd;
}

void Coordinator::on_closed(std::uint64_t sid) {
  auto it = members_.find(sid);
  if (it == members_.end()) return;
  Member m = std::move(it->second);
  members_.erase(it);
  if (!m.joined) return;
  spdlog::info("event=left session={} group={}", sid, q(m.group));
  for (const auto& d : m.domains) {
    GroupDomain* gd = find_gd(m.group, d);
    if (!gd) continue;
    gd->members.erase(std::remove(gd->members.begin(), gd->members.end(), sid), gd->members.end());
    for (auto& [p, st] : gd->streams) st->scheduler.release(sid);  // redelivered to the others
    if (gd->members.empty()) {
      retire({m.group, d});
    } else {
      reassign(*gd);
    }
  }
}

// The last consumer of (group, domain) left: commit what was acknowledged and
// give the leases back at once, so another worker's consumers take over
// without waiting for expiry.
void Coordinator::retire(GroupDomainKey key) {
  auto it = gds_.find(key);
  if (it == gds_.end()) return;
  std::unique_ptr<GroupDomain> gd = std::move(it->second);
  gds_.erase(it);
  std::vector<std::pair<int, std::string>> finals;
  for (auto& [p, st] : gd->streams) {
    if (auto c = st->tracker.take_committable()) st->to_commit = std::move(c);
    if (st->to_commit) finals.emplace_back(p, *st->to_commit);
    flush_sql(*st);
    streams_.erase(st->id);
  }
  ++pending_retires_;
  const std::string worker = cfg_.worker_id;
  db_.run(
      [key, finals, worker](Store& s) {
        for (const auto& [p, cursor] : finals) {
          try {
            s.commit_cursor(key.first, key.second, p, cursor);
          } catch (const pqxx::broken_connection&) {
            throw;
          } catch (const std::exception& e) {
            spdlog::debug("event=final_commit_skipped group={} domain={} partition={} error={}", q(key.first),
                          q(key.second), p, q(e.what()));
          }
        }
        s.lease_release(worker, key.first, key.second, nullptr);
        return true;
      },
      [this, key](bool) {
        spdlog::info("event=leases_released group={} domain={}", q(key.first), q(key.second));
        retire_done();
      },
      [this, key](const std::string& error) {
        spdlog::warn("event=release_failed group={} domain={} error={}", q(key.first), q(key.second), q(error));
        retire_done();
      });
}

void Coordinator::retire_done() {
  --pending_retires_;
  if (stopping_ && pending_retires_ == 0 && on_stopped_) {
    auto done = std::move(on_stopped_);
    on_stopped_ = nullptr;
    done();
  }
}

// Streams of a (group, domain) go round-robin to its consumers. Events in
// flight stay with the consumer that has them until it acks or leaves, so a
// key's order holds across a reassignment.
void Coordinator::reassign(GroupDomain& gd) {
  std::size_t i = 0;
  for (auto& [p, st] : gd.streams) {
    st->assigned = gd.members.empty() ? 0 : gd.members[i++ % gd.members.size()];
  }
  for (std::uint64_t sid : gd.members) rebuild_member(sid);
  for (auto& [p, st] : gd.streams) maybe_fetch(*st);
  for (std::uint64_t sid : std::vector<std::uint64_t>(gd.members)) pump(sid);
}

void Coordinator::rebuild_member(std::uint64_t sid) {
  auto it = members_.find(sid);
  if (it == members_.end() || !it->second.joined) return;
  Member& m = it->second;
  m.streams.clear();
  std::set<std::pair<std::string, int>> assignment;
  for (const auto& d : m.domains) {
    GroupDomain* gd = find_gd(m.group, d);
    if (!gd) continue;
    for (auto& [p, st] : gd->streams) {
      if (st->assigned != sid) continue;
      m.streams.push_back(st.get());
      assignment.emplace(d, p);
    }
  }
  if (assignment != m.assignment) {
    m.assignment = assignment;
    v1::ServerFrame f;
    for (const auto& [d, p] : assignment) {
      auto* ref = f.mutable_assignment()->add_partitions();
      ref->set_domain(d);
      ref->set_partition(p);
    }
    if (f.assignment().partitions().empty()) f.mutable_assignment();
    m.session->send(f);
    spdlog::info("event=assigned session={} group={} partitions={}", sid, q(m.group), assignment.size());
  }
}

// ------------------------------------------------------------------ leases

void Coordinator::acquire_leases(GroupDomain& gd) {
  if (gd.lease_in_flight || stopping_) return;
  gd.lease_in_flight = true;
  const GroupDomainKey key{gd.group, gd.domain};
  const std::uint64_t gen = gd.generation;
  const std::string worker = cfg_.worker_id;
  const auto ttl = cfg_.lease_ttl.count();
  db_.run([key, worker, ttl](Store& s) { return s.lease_acquire(worker, key.first, key.second, ttl); },
          [this, key, gen](std::vector<int> parts) { on_leases(key, gen, parts); },
          [this, key, gen](const std::string& error) {
            GroupDomain* gd = find_gd(key.first, key.second);
            if (!gd || gd->generation != gen) return;
            gd->lease_in_flight = false;
            spdlog::warn("event=lease_failed group={} domain={} error={}", q(key.first), q(key.second), q(error));
          });
}

void Coordinator::on_leases(const GroupDomainKey& key, std::uint64_t generation, const std::vector<int>& parts) {
  GroupDomain* gd = find_gd(key.first, key.second);
  if (!gd) {
    // Retired while the call ran: the release may have run first, so undo
    // the renewal rather than sit on the partitions until they expire.
    const std::string worker = cfg_.worker_id;
    db_.run(
        [key, worker](Store& s) {
          s.lease_release(worker, key.first, key.second, nullptr);
          return true;
        },
        [](bool) {}, [](const std::string&) {});
    return;
  }
  if (gd->generation != generation) return;
  gd->lease_in_flight = false;
  gd->lease_ok_at = Clock::now();
  const std::set<int> held(parts.begin(), parts.end());
  bool changed = false;
  for (auto it = gd->streams.begin(); it != gd->streams.end();) {
    if (held.count(it->first)) {
      ++it;
      continue;
    }
    spdlog::info("event=lease_lost group={} domain={} partition={}", q(gd->group), q(gd->domain), it->first);
    close_stream(std::move(it->second));
    it = gd->streams.erase(it);
    changed = true;
  }
  for (int p : held) {
    if (gd->streams.count(p)) continue;
    open_stream(*gd, p);
    changed = true;
  }
  if (gd->first_leases) {
    gd->first_leases = false;
    spdlog::info("event=leases group={} domain={} partitions={}", q(gd->group), q(gd->domain), held.size());
  }
  if (changed) {
    reassign(*gd);
    check_gaps(*gd);
  }
}

void Coordinator::open_stream(GroupDomain& gd, int partition) {
  auto st = std::make_unique<PartitionStream>(next_stream_id_++, gd.group, gd.domain, partition, cfg_.max_in_flight);
  if (auto c = catalog_.find(gd.domain); c != catalog_.end()) {
    st->state_query = c->second.delivery.state_query;
    st->consistency_timeout = c->second.delivery.consistency_timeout;
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
  streams_[st->id] = st.get();
  PartitionStream& ref = *st;
  gd.streams[partition] = std::move(st);
  maybe_start(ref);
}

// The lease is gone (lost, or handed to another worker): store what was
// acknowledged; the new owner resumes from there and redelivers the rest.
void Coordinator::close_stream(std::unique_ptr<PartitionStream> st) {
  flush_sql(*st);
  streams_.erase(st->id);
  if (auto c = st->tracker.take_committable()) st->to_commit = std::move(c);
  if (!st->to_commit) return;
  db_.run(
      [g = st->group, d = st->domain, p = st->partition, c = *st->to_commit](Store& s) {
        s.commit_cursor(g, d, p, c);
        return true;
      },
      [](bool) {}, [](const std::string&) {});
}

void Coordinator::check_gaps(GroupDomain& gd) {
  auto c = catalog_.find(gd.domain);
  if (c == catalog_.end() || c->second.durability != "staged" || gd.gaps_in_flight || gd.streams.empty()) return;
  std::vector<int> parts;
  for (auto& [p, st] : gd.streams) parts.push_back(p);
  gd.gaps_in_flight = true;
  const GroupDomainKey key{gd.group, gd.domain};
  const std::uint64_t gen = gd.generation;
  auto finish = [this, key, gen]() -> GroupDomain* {
    GroupDomain* g = find_gd(key.first, key.second);
    if (!g || g->generation != gen) return nullptr;
    g->gaps_in_flight = false;
    return g;
  };
  db_.run([key, parts](Store& s) { return s.unreported_gaps(key.first, key.second, parts); },
          [this, key, finish](std::vector<GapRow> gaps) {
            GroupDomain* g = finish();
            if (!g) return;
            for (const auto& row : gaps) {
              auto it = g->streams.find(row.partition);
              if (it == g->streams.end() || !it->second->assigned) continue;
              auto m = members_.find(it->second->assigned);
              if (m == members_.end()) continue;
              v1::ServerFrame f;
              v1::Gap* gap = f.mutable_gap();
              gap->set_domain(key.second);
              gap->set_partition(row.partition);
              gap->set_first_seq(row.first_seq);
              gap->set_last_seq(row.last_seq);
              gap->set_gap_id(row.gap_id);
              gap->mutable_detected_at()->set_seconds(row.detected_at_us / 1000000);
              gap->mutable_detected_at()->set_nanos(static_cast<int>(row.detected_at_us % 1000000) * 1000);
              m->second.session->send(f);
              spdlog::warn("event=gap_reported group={} domain={} partition={} first_seq={} last_seq={}", q(key.first),
                           q(key.second), row.partition, row.first_seq, row.last_seq);
              db_.run(
                  [group = key.first, id = row.gap_id](Store& s) {
                    s.gap_reported(group, id);
                    return true;
                  },
                  [](bool) {}, [](const std::string&) {});
            }
          },
          [finish](const std::string& error) {
            finish();
            spdlog::warn("event=gaps_failed error={}", q(error));
          });
}

}  // namespace intentlog
