#include "worker/coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "common/snapshot_cursor.h"
#include "worker/log_fields.h"

namespace intentlog {
namespace {

constexpr auto kRetryDelay = std::chrono::seconds(1);
constexpr auto kShutdownDeadline = std::chrono::seconds(5);
constexpr auto kStatsInterval = std::chrono::seconds(30);
constexpr auto kWarnEvery = std::chrono::seconds(10);

}  // namespace

Coordinator::Coordinator(asio::io_context& io, const WorkerConfig& cfg, DbPool& db)
    : io_(io),
      cfg_(cfg),
      db_(db),
      tick_timer_(io),
      lease_timer_(io),
      stats_timer_(io),
      retry_timer_(io),
      // A connect_timeout in the conninfo or in PGCONNECT_TIMEOUT is the user's.
      standby_conninfo_(cfg.replica.empty() || std::getenv("PGCONNECT_TIMEOUT")
                            ? cfg.replica
                            : with_connect_timeout(cfg.replica, kStandbyConnectTimeoutSeconds)) {}

void Coordinator::start() {
  last_poll_ = Clock::now();
  refresh_catalog([] {});
  arm(tick_timer_, cfg_.commit_interval, &Coordinator::tick);
  arm(lease_timer_, cfg_.lease_ttl / 3, &Coordinator::lease_tick);
  arm(stats_timer_, kStatsInterval, &Coordinator::log_stats);
  arm(retry_timer_, cfg_.retry_poll, &Coordinator::retry_tick);
}

void Coordinator::arm(asio::steady_timer& timer, Clock::duration period, void (Coordinator::*fn)()) {
  timer.expires_after(period);
  timer.async_wait([this, &timer, period, fn](const asio::error_code& ec) {
    if (ec || stopping_) return;
    (this->*fn)();
    arm(timer, period, fn);
  });
}

void Coordinator::log_stats() {
  spdlog::info(
      "event=stats sessions={} group_domains={} streams={} fetched={} delivered={} acked={} nacked={} "
      "commits={} retries={} dead_letters={} parked={} redelivered={} state_reads={} db_queue={}",
      members_.size(), gds_.size(), streams_.size(), fetched_, delivered_, acked_, nacked_, commits_, retries_,
      dead_letters_, parked_, redelivered_, state_reads_, db_.queued());
}

// ------------------------------------------------------------------ catalog

void Coordinator::refresh_catalog(std::function<void()> then) {
  catalog_waiters_.push_back(std::move(then));
  if (catalog_loading_) return;
  catalog_loading_ = true;
  db_.run([](Store& s) { return std::make_pair(s.domains(), load_delivery_settings(s.conn())); },
          [this](std::pair<std::vector<DomainRow>, std::map<std::string, DeliverySettings>> loaded) {
            catalog_.clear();
            for (auto& r : loaded.first) catalog_[r.name] = DomainInfo{r.partitions, r.durability, {}};
            for (auto& [name, settings] : loaded.second) {
              if (auto c = catalog_.find(name); c != catalog_.end()) c->second.delivery = settings;
            }
            catalog_loading_ = false;
            auto waiters = std::move(catalog_waiters_);
            catalog_waiters_.clear();
            for (auto& w : waiters) w();
          },
          [this](const std::string& error) {
            spdlog::warn("event=catalog_failed error={}", q(error));
            catalog_loading_ = false;
            auto waiters = std::move(catalog_waiters_);
            catalog_waiters_.clear();
            for (auto& w : waiters) w();
          });
}

// ------------------------------------------------------------------ streams

void Coordinator::maybe_start(PartitionStream& st) {
  if (st.started || st.starting || stopping_ || Clock::now() < st.retry_at) return;
  st.starting = true;
  const std::uint64_t id = st.id;
  db_.run(
      [g = st.group, d = st.domain, p = st.partition](Store& s) {
        std::string c = s.latest_cursor(d, p);
        // Stored at once, so that a restart resumes from "latest as of
        // the consumer's start" rather than from an older cursor.
        try {
          s.commit_cursor(g, d, p, c);
        } catch (const pqxx::broken_connection&) {
          throw;
        } catch (const std::exception&) {
        }
        return c;
      },
      [this, id](std::string cursor) {
        PartitionStream* st = find_stream(id);
        if (!st) return;
        st->starting = false;
        st->started = true;
        st->fetch_cursor = std::move(cursor);
        st->dirty = true;
        maybe_fetch(*st);
      },
      [this, id](const std::string& error) {
        PartitionStream* st = find_stream(id);
        if (!st) return;
        st->starting = false;
        st->retry_at = Clock::now() + kRetryDelay;
        spdlog::warn("event=start_failed group={} domain={} partition={} error={}", q(st->group), q(st->domain),
                     st->partition, q(error));
      });
}

void Coordinator::maybe_fetch(PartitionStream& st) {
  if (stopping_ || !st.started || st.fetching || !st.dirty || st.assigned == 0) return;
  if (Clock::now() < st.retry_at) return;
  if (!st.held_loaded) {
    load_held(st);  // fetches wait until the keys held in SQL are known
    return;
  }
  const std::size_t held = st.held();
  const std::size_t bytes = st.scheduler.bytes();
  if (held >= cfg_.buffer_events || bytes >= cfg_.buffer_bytes) return;
  std::size_t room = std::min(cfg_.buffer_events - held, (cfg_.buffer_bytes - bytes) / st.avg_event_bytes);
  // Avoid a trickle of tiny fetches into a nearly full buffer.
  const std::size_t capacity = std::min(cfg_.buffer_events, cfg_.buffer_bytes / st.avg_event_bytes);
  if (held > 0 && room < std::min<std::size_t>(cfg_.fetch_rows, capacity) / 2) return;
  room = std::max<std::size_t>(room, 1);
  const int rows = static_cast<int>(std::min<std::size_t>(room, static_cast<std::size_t>(cfg_.fetch_rows)));
  st.fetching = true;
  st.dirty = false;
  const std::uint64_t id = st.id;
  db_.run([g = st.group, d = st.domain, p = st.partition, rows,
           c = st.fetch_cursor](Store& s) { return s.fetch(g, d, p, rows, c); },
          [this, id, rows](FetchResult r) {
            PartitionStream* st = find_stream(id);
            if (!st) return;
            st->fetching = false;
            if (!r.events.empty()) {
              const std::size_t n = r.events.size();
              const std::uint64_t batch = st->tracker.add_batch(r.next_cursor, n);
              const std::size_t before = st->scheduler.bytes();
              accept_fetched(*st, batch, std::move(r.events));
              st->avg_event_bytes =
                  std::max<std::size_t>(64, (st->avg_event_bytes + (st->scheduler.bytes() - before) / n) / 2);
              st->fetch_cursor = std::move(r.next_cursor);
              if (n >= static_cast<std::size_t>(rows)) st->dirty = true;  // probably more behind
              fetched_ += n;
              pump(st->assigned);
            }
            maybe_fetch(*st);
          },
          [this, id](const std::string& error) {
            PartitionStream* st = find_stream(id);
            if (!st) return;
            st->fetching = false;
            st->dirty = true;
            const auto now = Clock::now();
            st->retry_at = now + kRetryDelay;
            if (now - st->fetch_warned_at > kWarnEvery) {  // one line per outage, not one per second
              st->fetch_warned_at = now;
              spdlog::warn("event=fetch_failed group={} domain={} partition={} error={}", q(st->group), q(st->domain),
                           st->partition, q(error));
            }
          });
}

void Coordinator::start_commit(PartitionStream& st) {
  st.committing = true;
  const std::uint64_t id = st.id;
  const std::string cursor = *st.to_commit;
  db_.run(
      [g = st.group, d = st.domain, p = st.partition, cursor](Store& s) {
        s.commit_cursor(g, d, p, cursor);
        return true;
      },
      [this, id, cursor](bool) {
        ++commits_;
        PartitionStream* st = find_stream(id);
        if (!st) return;
        st->committing = false;
        if (st->to_commit == cursor) st->to_commit.reset();
      },
      [this, id, cursor](const std::string& error) {
        PartitionStream* st = find_stream(id);
        if (!st) return;
        st->committing = false;
        if (error.find("backwards") != std::string::npos) {
          // Replaying behind the group's committed cursor (START_EARLIEST or
          // a position): nothing to store until the replay passes it.
          if (st->to_commit == cursor) st->to_commit.reset();
          return;
        }
        const auto now = Clock::now();
        if (now - st->commit_warned_at > kWarnEvery) {
          st->commit_warned_at = now;
          spdlog::warn("event=commit_failed group={} domain={} partition={} error={}", q(st->group), q(st->domain),
                       st->partition, q(error));
        }
      });
}

// Sends the consumer as many ready events as its credit and socket allow,
// taking a few from each of its partitions in turn.
void Coordinator::pump(std::uint64_t sid) {
  auto it = members_.find(sid);
  if (it == members_.end() || !it->second.joined) return;
  Member& m = it->second;
  Session& session = *m.session;
  const auto now = Clock::now();
  constexpr int kPerStreamTurn = 16;
  while (session.credit() > 0 && session.writable() && !m.streams.empty()) {
    v1::ServerFrame frame;
    v1::Batch* batch = frame.mutable_batch();
    std::size_t bytes = 0;
    std::uint32_t budget = std::min<std::uint32_t>(session.credit(), static_cast<std::uint32_t>(cfg_.max_batch_events));
    bool progress = true;
    while (progress && budget > 0 && bytes < cfg_.max_batch_bytes) {
      progress = false;
      const std::size_t n = m.streams.size();
      for (std::size_t i = 0; i < n && budget > 0 && bytes < cfg_.max_batch_bytes; ++i) {
        PartitionStream* st = m.streams[(m.rr + i) % n];
        if (st->assigned != sid) continue;
        for (int k = 0; k < kPerStreamTurn && budget > 0 && bytes < cfg_.max_batch_bytes; ++k) {
          const v1::Event* e = st->scheduler.pop_ready(now, sid);
          if (!e) break;
          if (!st->state_query.empty()) {
            // Sent once its state is read; the credit is spent now.
            session.spend_credit(1);
            --budget;
            progress = true;
            resolve_state(*st, sid, e->seq(), now + st->consistency_timeout, 0);
            continue;
          }
          st->sent[e->seq()] = {sid, now};
          *batch->add_events() = *e;
          bytes += e->payload().size() + e->key().size() + e->headers_json().size() + 64;
          --budget;
          progress = true;
        }
      }
      m.rr = (m.rr + 1) % n;
    }
    if (batch->events().empty()) break;
    const auto sent = static_cast<std::uint32_t>(batch->events_size());
    session.spend_credit(sent);
    delivered_ += sent;
    session.send(frame);
  }
}

void Coordinator::on_ack(std::uint64_t sid, const v1::Ack& ack) {
  auto it = members_.find(sid);
  if (it == members_.end()) return;
  const std::string& group = it->second.group;
  std::set<PartitionStream*> touched;
  for (const auto& ev : ack.events()) {
    GroupDomain* gd = find_gd(group, ev.domain());
    if (!gd) continue;
    auto s = gd->streams.find(ev.partition());
    if (s == gd->streams.end()) continue;
    PartitionStream& st = *s->second;
    if (st.resolving.count(ev.seq())) continue;  // not sent yet: an ack for it is bogus
    const bool retried = st.retried.count(ev.seq()) > 0;
    const v1::Event* e = retried ? st.scheduler.in_flight_event(ev.seq(), sid) : nullptr;
    const std::string key = e ? e->key() : std::string();
    if (auto batch = st.scheduler.ack(ev.seq(), sid)) {
      st.sent.erase(ev.seq());
      if (retried) {
        retry_acked(st, ev.seq(), key);
      } else {
        st.tracker.resolve(*batch);
      }
      ++acked_;
      touched.insert(&st);
    }
  }
  std::set<std::uint64_t> to_pump{sid};
  for (PartitionStream* st : touched) {
    maybe_fetch(*st);
    if (st->assigned) to_pump.insert(st->assigned);
  }
  for (std::uint64_t s : to_pump) pump(s);
}

void Coordinator::on_nack(std::uint64_t sid, const v1::Nack& nack) {
  auto it = members_.find(sid);
  if (it == members_.end()) return;
  const auto& ev = nack.event();
  GroupDomain* gd = find_gd(it->second.group, ev.domain());
  if (!gd) return;
  auto s = gd->streams.find(ev.partition());
  if (s == gd->streams.end()) return;
  PartitionStream& st = *s->second;
  if (st.resolving.count(ev.seq())) return;  // not sent yet
  const v1::Event* e = st.scheduler.in_flight_event(ev.seq(), sid);
  if (!e) return;
  spdlog::warn("event=nack session={} group={} domain={} partition={} seq={} key={} attempt={} error={}", sid,
               q(st.group), q(st.domain), st.partition, ev.seq(), q(e->key()), e->attempt(), q(nack.error()));
  ++nacked_;
  // A retry in SQL: the cursor moves on, other keys never wait for it.
  fail_event(st, ev.seq(), sid, nack.error().empty() ? "nack" : "nack: " + nack.error());
  pump(sid);
}

// ------------------------------------------------------------------ wake-ups

void Coordinator::on_wakeup(const std::string& domain, int partition) {
  for (auto& [key, gd] : gds_) {
    if (key.second != domain) continue;
    auto it = gd->streams.find(partition);
    if (it == gd->streams.end()) continue;
    it->second->dirty = true;
    maybe_fetch(*it->second);
  }
}

void Coordinator::on_listener_reconnect() {
  for (auto& [id, st] : streams_) {
    st->dirty = true;
    maybe_fetch(*st);
  }
}

void Coordinator::tick() {
  const auto now = Clock::now();
  const bool poll = now - last_poll_ >= cfg_.poll;
  if (poll) last_poll_ = now;
  for (auto& [id, st] : streams_) {
    if (poll) st->dirty = true;
    check_ack_timeouts(*st, now);
    if (!st->started) maybe_start(*st);
    if (!st->committing) {
      if (auto c = st->tracker.take_committable()) st->to_commit = std::move(c);
      if (st->to_commit) start_commit(*st);
    }
    maybe_fetch(*st);
  }
  for (auto& [sid, m] : members_) pump(sid);
}

void Coordinator::lease_tick() {
  const auto now = Clock::now();
  for (auto& [key, gd] : gds_) {
    if (!gd->streams.empty() && now - gd->lease_ok_at > cfg_.lease_ttl) {
      // Could not renew for a whole lease time: another worker may own these
      // partitions now. Stop delivering them.
      spdlog::warn("event=leases_expired group={} domain={} partitions={}", q(gd->group), q(gd->domain),
                   gd->streams.size());
      for (auto& [p, st] : gd->streams) close_stream(std::move(st));
      gd->streams.clear();
      reassign(*gd);
    }
    acquire_leases(*gd);
    check_gaps(*gd);
  }
}

// ------------------------------------------------------------------ shutdown

void Coordinator::shutdown(std::function<void()> done) {
  if (stopping_) return;
  spdlog::info("event=shutdown sessions={} streams={}", members_.size(), streams_.size());
  // Retires below must still commit; stopping_ only stops new work.
  std::vector<std::shared_ptr<Session>> sessions;
  for (auto& [sid, m] : members_) sessions.push_back(m.session);
  for (auto& s : sessions) s->fail(v1::ERROR_SHUTTING_DOWN, "worker shutting down");
  stopping_ = true;
  tick_timer_.cancel();
  lease_timer_.cancel();
  stats_timer_.cancel();
  retry_timer_.cancel();
  log_stats();
  if (pending_retires_ == 0) {
    done();
    return;
  }
  on_stopped_ = std::move(done);
  auto deadline = std::make_shared<asio::steady_timer>(io_, kShutdownDeadline);
  deadline->async_wait([this, deadline](const asio::error_code&) {
    if (!on_stopped_) return;
    spdlog::warn("event=shutdown_deadline pending={}", pending_retires_);
    auto d = std::move(on_stopped_);
    on_stopped_ = nullptr;
    d();
  });
}

// ------------------------------------------------------------------ lookups

PartitionStream* Coordinator::find_stream(std::uint64_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second;
}

Coordinator::GroupDomain* Coordinator::find_gd(const std::string& group, const std::string& domain) {
  auto it = gds_.find(GroupDomainKey{group, domain});
  return it == gds_.end() ? nullptr : it->second.get();
}

void Coordinator::on_schema_request(const std::shared_ptr<Session>& session, const v1::SchemaRequest& req) {
  std::weak_ptr<Session> weak = session;
  const std::string domain = req.domain();
  const int version = req.schema_version();
  db_.run([domain, version](Store& s) { return s.schema_descriptor(domain, version); },
          [weak, domain, version](SchemaRow row) {
            auto sess = weak.lock();
            if (!sess) return;
            v1::ServerFrame f;
            auto* out = f.mutable_schema();
            out->set_domain(domain);
            out->set_schema_version(row.found ? row.version : version);
            if (row.found) {
              out->set_message(row.message);
              out->set_descriptor_set(row.descriptor_set);
            } else {
              out->set_error(row.error.empty() ? "no such schema" : row.error);
            }
            sess->send(f);
          },
          [weak, domain, version](const std::string& error) {
            spdlog::warn("event=schema_request_failed domain={} version={} error=\"{}\"", domain, version, error);
            if (auto sess = weak.lock()) {
              v1::ServerFrame f;
              f.mutable_schema()->set_domain(domain);
              f.mutable_schema()->set_schema_version(version);
              f.mutable_schema()->set_error("the worker could not read the schema: " + error);
              sess->send(f);
            }
          });
}

}  // namespace intentlog
