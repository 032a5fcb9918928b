#include "worker/coordinator.h"

#include <spdlog/spdlog.h>

#include <set>
#include <vector>

#include "worker/log_fields.h"
#include "worker/net/session.h"
#include "worker/net/session_sink.h"

namespace intentlog {
namespace {

constexpr auto kShutdownDeadline = std::chrono::seconds(5);
constexpr auto kStatsInterval = std::chrono::seconds(30);
// Every stream fetches at least this often, wake-up or not.
constexpr auto kFullPollInterval = std::chrono::seconds(60);

}  // namespace

Coordinator::Coordinator(asio::io_context& io, const WorkerConfig& cfg, DbPool& db, metrics::Registry& registry,
                         DbPool* waits)
    : ctx_(io, cfg, db, waits, registry),
      catalog_(ctx_),
      retries_(ctx_),
      leases_(ctx_, [this](GroupDomain& gd, const std::vector<int>& parts) { membership_.on_leases(gd, parts); }),
      membership_(ctx_, catalog_, leases_, retries_),
      dispatcher_(ctx_, membership_, retries_),
      states_(
          ctx_, retries_,
          [this](PartitionStream& st, std::uint64_t member, const v1::Event& e) {
            dispatcher_.deliver_one(st, member, e);
          },
          [this](std::uint64_t member) { dispatcher_.return_capacity(member); }),
      tick_timer_(io),
      lease_timer_(io),
      stats_timer_(io),
      retry_timer_(io) {
  dispatcher_.set_state_reads(&states_);
  ctx_.wake = [this](std::uint64_t member) {
    if (member) dispatcher_.pump(member);
  };
  ctx_.long_polls_changed = [this] {
    if (!pause_listener_) return;
    bool all = !ctx_.groups.empty();
    for (const auto& [key, gd] : ctx_.groups) all = all && gd->long_polling;
    pause_listener_(all);
  };
  register_gauges(registry);
}

// Live state, read at scrape time on the event loop thread (the metrics
// listener runs on it too), so nothing is kept up to date per event.
void Coordinator::register_gauges(metrics::Registry& registry) {
  using Samples = metrics::Registry::Samples;
  auto per_stream = [this, &registry](const char* name, const char* help, auto value) {
    registry.collect(name, help, [this, value](Samples& out) {
      for (const auto& [key, gd] : ctx_.groups)
        for (const auto& [p, st] : gd->streams) {
          const double v = value(*st);
          if (v >= 0)
            out.push_back({{{"group", gd->group}, {"domain", gd->domain}, {"partition", std::to_string(p)}}, v});
        }
    });
  };
  per_stream("intentlog_worker_in_flight", "Events handed to a consumer and not yet acknowledged.",
             [](const PartitionStream& st) { return static_cast<double>(st.scheduler.in_flight()); });
  per_stream("intentlog_worker_buffered", "Fetched intents waiting in memory for their key or for consumer credit.",
             [](const PartitionStream& st) { return static_cast<double>(st.scheduler.waiting()); });
  per_stream("intentlog_worker_buffered_bytes", "Approximate memory of the intents held (buffered and in flight).",
             [](const PartitionStream& st) { return static_cast<double>(st.scheduler.bytes()); });
  per_stream("intentlog_worker_committed_seq", "Watermark of the last cursor this worker committed.",
             [](const PartitionStream& st) { return static_cast<double>(st.committed_seq); });
  per_stream("intentlog_worker_keys_held", "Keys held in SQL behind a retry, as this worker knows them.",
             [](const PartitionStream& st) { return static_cast<double>(st.sql_held.size()); });
  auto per_group = [this, &registry](const char* name, const char* help, auto value) {
    registry.collect(name, help, [this, value](Samples& out) {
      for (const auto& [key, gd] : ctx_.groups)
        out.push_back({{{"group", gd->group}, {"domain", gd->domain}}, static_cast<double>(value(*gd))});
    });
  };
  per_group("intentlog_worker_leases_held", "Partitions of the group's domain this worker holds the lease of.",
            [](const GroupDomain& gd) { return gd.streams.size(); });
  per_group("intentlog_worker_consumers", "Consumers (sessions and publishers) of the group reading the domain here.",
            [](const GroupDomain& gd) { return gd.members.size(); });
  registry.collect("intentlog_worker_db_queue", "SQL calls waiting for a pool connection.", [this](Samples& out) {
    out.push_back({{}, static_cast<double>(ctx_.db.queued())});
  });
}

void Coordinator::start() {
  const WorkerConfig& cfg = ctx_.cfg;
  last_poll_ = Clock::now();
  last_full_poll_ = last_poll_;
  catalog_.refresh([] {});
  arm(tick_timer_, cfg.commit_interval, &Coordinator::tick);
  arm(lease_timer_, cfg.lease_ttl / 3, &Coordinator::lease_tick);
  arm(stats_timer_, kStatsInterval, &Coordinator::log_stats);
  arm(retry_timer_, cfg.retry_poll, &Coordinator::retry_tick);
}

void Coordinator::arm(asio::steady_timer& timer, Clock::duration period, void (Coordinator::*fn)()) {
  timer.expires_after(period);
  timer.async_wait([this, &timer, period, fn](const asio::error_code& ec) {
    if (ec || ctx_.stopping) return;
    (this->*fn)();
    arm(timer, period, fn);
  });
}

void Coordinator::log_stats() {
  const DeliveryStats& s = ctx_.stats;
  spdlog::info(
      "event=stats sessions={} group_domains={} streams={} fetched={} delivered={} acked={} nacked={} "
      "commits={} retries={} dead_letters={} parked={} redelivered={} state_reads={} long_polls={} db_queue={}",
      membership_.size(), ctx_.groups.size(), ctx_.streams.size(), s.fetched, s.delivered, s.acked, s.nacked, s.commits,
      s.retries, s.dead_letters, s.parked, s.redelivered, s.state_reads, s.long_polls, ctx_.db.queued());
}

void Coordinator::tick() {
  const auto now = Clock::now();
  const bool poll = now - last_poll_ >= ctx_.cfg.poll;
  if (poll) last_poll_ = now;
  const bool poll_all = now - last_full_poll_ >= kFullPollInterval;
  if (poll_all) last_full_poll_ = now;
  // Every stream at a poll; between polls, those that may have work (quiet
  // ones cost nothing there: at 1,024 idle partitions the visits were a
  // third of the idle worker's time).
  std::vector<std::uint64_t> visit;
  visit.swap(ctx_.ticking);
  if (poll) {
    visit.clear();
    for (auto& [id, st] : ctx_.streams) visit.push_back(id);
  }
  std::set<std::uint64_t> members;
  for (std::uint64_t id : visit) {
    PartitionStream* st = ctx_.find_stream(id);
    if (!st) continue;
    st->ticking = false;
    st->on_tick(now, poll, poll_all);
    if (!st->quiet()) st->keep_ticking();
    if (!poll && st->assigned) members.insert(st->assigned);
  }
  if (poll) {
    for (std::uint64_t member : membership_.member_ids()) dispatcher_.pump(member);
  } else {
    for (std::uint64_t member : members) dispatcher_.pump(member);
  }
}

// ------------------------------------------------------------------ sessions

void Coordinator::on_hello(const std::shared_ptr<Session>& session, const v1::Hello& hello) {
  add_member(std::make_shared<SessionSink>(session), join_request(hello));
}

void Coordinator::on_ack(std::uint64_t sid, const v1::Ack& ack) {
  ack_ids_.assign(ack.events().begin(), ack.events().end());
  this->ack(sid, ack_ids_);
}

void Coordinator::on_schema_request(const std::shared_ptr<Session>& session, const v1::SchemaRequest& req) {
  std::weak_ptr<Session> weak = session;
  const std::string domain = req.domain();
  const int version = req.schema_version();
  ctx_.db.run([domain, version](Store& s) { return s.schema_descriptor(domain, version); },
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

// ------------------------------------------------------------------ wake-ups

void Coordinator::on_wakeup(const std::string& domain, int partition) {
  for (auto& [key, gd] : ctx_.groups) {
    if (key.second != domain) continue;
    auto it = gd->streams.find(partition);
    if (it == gd->streams.end()) continue;
    // A long-polling domain's next fetch_wait looks at the stamps itself.
    if (!gd->long_polling) it->second->dirty = true;
    it->second->active_at = Clock::now();
    it->second->maybe_fetch();
  }
}

void Coordinator::on_listener_reconnect() {
  for (auto& [id, st] : ctx_.streams) {
    st->dirty = true;
    st->maybe_fetch();
  }
}

// ------------------------------------------------------------------ shutdown

void Coordinator::shutdown(std::function<void()> done) {
  if (ctx_.stopping) return;
  spdlog::info("event=shutdown sessions={} streams={}", membership_.size(), ctx_.streams.size());
  // The retires this causes must still commit; stopping only stops new work.
  membership_.close_all(v1::ERROR_SHUTTING_DOWN, "worker shutting down");
  ctx_.stopping = true;
  tick_timer_.cancel();
  lease_timer_.cancel();
  stats_timer_.cancel();
  retry_timer_.cancel();
  log_stats();
  if (membership_.pending_releases() == 0) {
    done();
    return;
  }
  on_stopped_ = std::move(done);
  membership_.when_released([this] {
    if (!on_stopped_) return;
    auto d = std::move(on_stopped_);
    on_stopped_ = nullptr;
    d();
  });
  auto deadline = std::make_shared<asio::steady_timer>(ctx_.io, kShutdownDeadline);
  deadline->async_wait([this, deadline](const asio::error_code&) {
    if (!on_stopped_) return;
    spdlog::warn("event=shutdown_deadline pending={}", membership_.pending_releases());
    auto d = std::move(on_stopped_);
    on_stopped_ = nullptr;
    d();
  });
}

}  // namespace intentlog
