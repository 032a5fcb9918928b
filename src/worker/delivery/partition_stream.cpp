#include "worker/delivery/partition_stream.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/snapshot_cursor.h"
#include "worker/delivery/context.h"
#include "worker/delivery/retry_book.h"
#include "worker/log_fields.h"

namespace intentlog {
namespace {

constexpr auto kRetryDelay = std::chrono::seconds(1);
constexpr auto kWarnEvery = std::chrono::seconds(10);
constexpr auto kRecentlyActive = std::chrono::seconds(10);
constexpr std::size_t kStatementFetches = 2;

// Sends the fetches waiting in `gd` as one statement, unless one runs
// already: then only if all of them are of caught-up streams and a pool
// connection is free. Streams that hold events keep to one statement at a
// time, so that under load each statement serves many partitions (a second
// one then halved the events per statement and raised the worker's CPU per
// intent by half at 100,000/s).
void send_fetches(DeliveryContext& ctx, GroupDomain& gd) {
  if (gd.fetches_waiting.empty() || ctx.stopping) return;
  if (gd.fetches_in_flight > 0) {
    if (gd.fetches_in_flight >= ctx.cfg.db_connections) return;
    for (const WaitingFetch& w : gd.fetches_waiting)
      if (!w.caught_up) return;
  }
  ++gd.fetches_in_flight;
  std::vector<WaitingFetch> batch = std::move(gd.fetches_waiting);
  gd.fetches_waiting.clear();
  // One statement brings at most kStatementFetches fetches' worth of rows
  // (the asks are scaled down to it), so that its result in memory stays
  // near what one fetch per connection held.
  std::size_t total = 0;
  for (const WaitingFetch& w : batch) total += static_cast<std::size_t>(w.ask.max_rows);
  const std::size_t cap = kStatementFetches * static_cast<std::size_t>(ctx.cfg.fetch_rows);
  if (total > cap) {
    for (WaitingFetch& w : batch)
      w.ask.max_rows = std::max(1, static_cast<int>(static_cast<std::size_t>(w.ask.max_rows) * cap / total));
  }
  std::vector<FetchAsk> asks;
  asks.reserve(batch.size());
  for (const WaitingFetch& w : batch) asks.push_back(w.ask);
  // Once it returned: the next statement takes what waited meanwhile.
  auto sent = [&ctx, g = gd.group, d = gd.domain, generation = gd.generation] {
    GroupDomain* now = ctx.find_group(g, d);
    if (!now || now->generation != generation) return;
    --now->fetches_in_flight;
    send_fetches(ctx, *now);
  };
  ctx.db.run([g = gd.group, d = gd.domain, asks = std::move(asks)](Store& s) { return s.fetch_partitions(g, d, asks); },
             [&ctx, batch, sent](std::vector<FetchResult> results) {
               for (std::size_t i = 0; i < batch.size() && i < results.size(); ++i) {
                 if (PartitionStream* st = ctx.find_stream(batch[i].stream))
                   st->on_fetched(std::move(results[i]), batch[i].ask.max_rows, batch[i].asked);
               }
               sent();
             },
             [&ctx, batch, sent](const std::string&) {
               for (const WaitingFetch& w : batch) {
                 if (PartitionStream* st = ctx.find_stream(w.stream)) st->fetch_alone(w.ask.max_rows);
               }
               sent();
             });
}

}  // namespace

GroupDomain::~GroupDomain() = default;

PartitionStream::PartitionStream(DeliveryContext& ctx, RetryBook& retries, std::uint64_t id_, std::string group_,
                                 std::string domain_, int partition_)
    : id(id_),
      group(std::move(group_)),
      domain(std::move(domain_)),
      partition(partition_),
      scheduler(ctx.cfg.max_in_flight),
      metrics(ctx.metrics.stream(group, domain, partition)),
      ctx_(ctx),
      retries_(retries) {}

void PartitionStream::maybe_start() {
  if (started || starting || ctx_.stopping || Clock::now() < retry_at) return;
  starting = true;
  DeliveryContext& ctx = ctx_;
  ctx.db.run(
      [g = group, d = domain, p = partition](Store& s) {
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
      [&ctx, id = id](std::string cursor) {
        PartitionStream* st = ctx.find_stream(id);
        if (!st) return;
        st->starting = false;
        st->started = true;
        st->fetch_cursor = std::move(cursor);
        st->dirty = true;
        st->maybe_fetch();
      },
      [&ctx, id = id](const std::string& error) {
        PartitionStream* st = ctx.find_stream(id);
        if (!st) return;
        st->starting = false;
        st->retry_at = Clock::now() + kRetryDelay;
        spdlog::warn("event=start_failed group={} domain={} partition={} error={}", q(st->group), q(st->domain),
                     st->partition, q(error));
      });
}

void PartitionStream::maybe_fetch() {
  if (ctx_.stopping || !started || fetching || !dirty || assigned == 0) return;
  if (Clock::now() < retry_at) return;
  if (!held_loaded) {
    retries_.load_held(*this);  // fetches wait until the keys held in SQL are known
    return;
  }
  const WorkerConfig& cfg = ctx_.cfg;
  const std::size_t in_memory = held();
  const std::size_t bytes = scheduler.bytes();
  if (in_memory >= cfg.buffer_events || bytes >= cfg.buffer_bytes) return;
  std::size_t room = std::min(cfg.buffer_events - in_memory, (cfg.buffer_bytes - bytes) / avg_event_bytes);
  // Avoid a trickle of tiny fetches into a nearly full buffer.
  const std::size_t capacity = std::min(cfg.buffer_events, cfg.buffer_bytes / avg_event_bytes);
  if (in_memory > 0 && room < std::min<std::size_t>(cfg.fetch_rows, capacity) / 2) return;
  room = std::max<std::size_t>(room, 1);
  const int rows = static_cast<int>(std::min<std::size_t>(room, static_cast<std::size_t>(cfg.fetch_rows)));
  fetching = true;
  dirty = false;
  GroupDomain* gd = ctx_.find_group(group, domain);
  if (!gd) {
    fetch_alone(rows);
    return;
  }
  gd->fetches_waiting.push_back(
      WaitingFetch{id, FetchAsk{partition, rows, fetch_cursor}, Clock::now(), in_memory == 0});
  send_fetches(ctx_, *gd);
}

void PartitionStream::fetch_alone(int rows) {
  DeliveryContext& ctx = ctx_;
  ctx.db.run(
      [g = group, d = domain, p = partition, rows, c = fetch_cursor](Store& s) { return s.fetch(g, d, p, rows, c); },
      [&ctx, id = id, rows, asked = Clock::now()](FetchResult r) {
        if (PartitionStream* st = ctx.find_stream(id)) st->on_fetched(std::move(r), rows, asked);
      },
      [&ctx, id = id](const std::string& error) {
        if (PartitionStream* st = ctx.find_stream(id)) st->on_fetch_failed(error);
      });
}

void PartitionStream::on_fetched(FetchResult r, int rows, Clock::time_point asked) {
  fetching = false;
  metrics.fetch_seconds->observe(std::chrono::duration<double>(Clock::now() - asked).count());
  metrics.fetch_rows->observe(static_cast<double>(r.events.size()));
  if (!r.events.empty()) {
    const std::size_t n = r.events.size();
    const std::uint64_t batch = tracker.add_batch(r.next_cursor, n);
    const std::size_t before = scheduler.bytes();
    retries_.accept_fetched(*this, batch, std::move(r.events));
    avg_event_bytes = std::max<std::size_t>(64, (avg_event_bytes + (scheduler.bytes() - before) / n) / 2);
    fetch_cursor = std::move(r.next_cursor);
    if (n >= static_cast<std::size_t>(rows)) dirty = true;  // probably more behind
    active_at = Clock::now();
    ctx_.stats.fetched += n;
    metrics.fetched->inc(n);
    ctx_.wake(assigned);
  }
  maybe_fetch();
}

void PartitionStream::on_fetch_failed(const std::string& error) {
  fetching = false;
  dirty = true;
  metrics.fetch_errors->inc();
  const auto now = Clock::now();
  retry_at = now + kRetryDelay;
  if (now - fetch_warned_at > kWarnEvery) {  // one line per outage, not one per second
    fetch_warned_at = now;
    spdlog::warn("event=fetch_failed group={} domain={} partition={} error={}", q(group), q(domain), partition,
                 q(error));
  }
}

void PartitionStream::on_tick(Clock::time_point now, bool poll, bool poll_all) {
  // The poll backs up the wake-ups (a two-phase commit's COMMIT PREPARED
  // stamps nothing) for streams with recent activity; every stream is polled
  // only at the slow full poll, so idle streams cost no fetches.
  if (poll_all || (poll && now - active_at < kRecentlyActive)) dirty = true;
  retries_.check_ack_timeouts(*this, now);
  if (!started) maybe_start();
  if (!committing) {
    if (auto c = tracker.take_committable()) to_commit = std::move(c);
    if (to_commit) start_commit();
  }
  maybe_fetch();
}

void PartitionStream::start_commit() {
  committing = true;
  const std::string cursor = *to_commit;
  DeliveryContext& ctx = ctx_;
  ctx.db.run(
      [g = group, d = domain, p = partition, cursor](Store& s) {
        s.commit_cursor(g, d, p, cursor);
        return true;
      },
      [&ctx, id = id, cursor](bool) {
        ++ctx.stats.commits;
        PartitionStream* st = ctx.find_stream(id);
        if (!st) return;
        st->committing = false;
        st->metrics.commits->inc();
        if (auto c = parse_cursor(cursor)) st->committed_seq = c->watermark;
        if (st->to_commit == cursor) st->to_commit.reset();
      },
      [&ctx, id = id, cursor](const std::string& error) {
        PartitionStream* st = ctx.find_stream(id);
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

bool PartitionStream::ack(std::int64_t seq, std::uint64_t member, double now_s) {
  if (resolving.count(seq)) return false;  // not sent yet: an ack for it is bogus
  const bool was_retry = retried.count(seq) > 0;
  const v1::Event* e = scheduler.in_flight_event(seq, member);
  if (!e) return false;
  const std::string key = was_retry ? e->key() : std::string();
  const auto& at = e->appended_at();
  const double appended = static_cast<double>(at.seconds()) + at.nanos() * 1e-9;
  auto batch = scheduler.ack(seq, member);
  if (!batch) return false;
  if (appended > 0) metrics.ack_seconds->observe(std::max(0.0, now_s - appended));
  sent.erase(seq);
  if (was_retry) {
    retries_.retry_acked(*this, seq, key);  // in no tracked batch: SQL holds it
  } else {
    tracker.resolve(*batch);
  }
  ++ctx_.stats.acked;
  metrics.acked->inc();
  return true;
}

std::optional<std::string> PartitionStream::final_cursor() {
  if (auto c = tracker.take_committable()) to_commit = std::move(c);
  return to_commit;
}

}  // namespace intentlog
