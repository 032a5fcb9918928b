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

// One statement brings at most kStatementFetches fetches' worth of rows (the
// asks are scaled down to it), so that its result in memory stays near what
// one fetch per connection held.
void cap_statement_rows(const DeliveryContext& ctx, std::vector<FetchAsk>& asks) {
  std::size_t total = 0;
  for (const FetchAsk& a : asks) total += static_cast<std::size_t>(a.max_rows);
  const std::size_t cap = kStatementFetches * static_cast<std::size_t>(ctx.cfg.fetch_rows);
  if (total <= cap) return;
  for (FetchAsk& a : asks)
    a.max_rows = std::max(1, static_cast<int>(static_cast<std::size_t>(a.max_rows) * cap / total));
}

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
  std::vector<FetchAsk> asks;
  asks.reserve(batch.size());
  for (const WaitingFetch& w : batch) asks.push_back(w.ask);
  cap_statement_rows(ctx, asks);
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i].ask.max_rows = asks[i].max_rows;
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

constexpr int kWaitTimeoutMs = 200;  // also how long a stream that could not join waits for the next call
constexpr auto kWaitIdle = std::chrono::seconds(10);

void send_wait(DeliveryContext& ctx, GroupDomain& gd);

// Back to wake-ups and fetch_partitions: every stream fetches once, since
// wake-ups of the long-polling time were not kept.
void stop_long_poll(DeliveryContext& ctx, GroupDomain& gd) {
  if (!gd.long_polling) return;
  gd.long_polling = false;
  ++ctx.free_waits;
  if (ctx.long_polls_changed) ctx.long_polls_changed();
  for (auto& [p, st] : gd.streams) {
    st->dirty = true;
    st->maybe_fetch();
  }
}

// The domain fetched rows the usual way: long-poll it if a wait connection
// is free.
void start_long_poll(DeliveryContext& ctx, GroupDomain& gd) {
  if (gd.long_polling || ctx.waits == nullptr || !ctx.fetch_wait || ctx.free_waits <= 0 || ctx.stopping) return;
  --ctx.free_waits;
  gd.long_polling = true;
  gd.wait_rows_at = std::chrono::steady_clock::now();
  if (ctx.long_polls_changed) ctx.long_polls_changed();
  send_wait(ctx, gd);
}

// One fetch_wait for every stream of `gd` that can fetch now; the next one
// goes out when it returns.
void send_wait(DeliveryContext& ctx, GroupDomain& gd) {
  if (!gd.long_polling || gd.wait_in_flight || ctx.stopping) return;
  std::vector<std::uint64_t> ids;
  std::vector<FetchAsk> asks;
  for (auto& [p, st] : gd.streams) {
    FetchAsk a;
    if (!st->join_wait(&a)) continue;
    ids.push_back(st->id);
    asks.push_back(std::move(a));
  }
  if (asks.empty()) return;  // the next maybe_fetch of a stream sends it
  cap_statement_rows(ctx, asks);
  gd.wait_in_flight = true;
  auto finish = [&ctx, g = gd.group, d = gd.domain, generation = gd.generation](bool rows, bool failed) {
    GroupDomain* now = ctx.find_group(g, d);
    if (!now || now->generation != generation) return;
    now->wait_in_flight = false;
    const auto t = std::chrono::steady_clock::now();
    if (rows) now->wait_rows_at = t;
    if (failed || !ctx.fetch_wait || ctx.stopping || t - now->wait_rows_at > kWaitIdle) {
      stop_long_poll(ctx, *now);
    } else {
      send_wait(ctx, *now);
    }
  };
  ctx.waits->run([g = gd.group, d = gd.domain, asks](Store& s) { return s.fetch_wait(g, d, asks, kWaitTimeoutMs); },
                 [&ctx, ids, asks, finish](std::optional<WaitResult> r) {
                   if (!r || r->tick == 0) {
                     if (ctx.fetch_wait)
                       spdlog::info("event=long_poll_off reason={}",
                                    r ? "\"no shared memory for wake-ups\""
                                      : "\"intentlog.fetch_wait missing (ALTER EXTENSION UPDATE)\"");
                     ctx.fetch_wait = false;
                   }
                   ++ctx.stats.long_polls;
                   bool rows = false;
                   for (std::size_t i = 0; i < ids.size(); ++i) {
                     PartitionStream* st = ctx.find_stream(ids[i]);
                     if (!st) continue;
                     if (!r) {
                       st->fetching = false;
                       st->dirty = true;
                       continue;
                     }
                     // Not the max with the old one: after a server restart the tick
                     // starts again from 1.
                     st->wait_tick = r->tick;
                     rows = rows || !r->results[i].events.empty();
                     // A long poll's time is mostly waiting: it is not a fetch latency.
                     st->on_fetched(std::move(r->results[i]), asks[i].max_rows, PartitionStream::Clock::now());
                   }
                   finish(rows, false);
                 },
                 [&ctx, ids, finish](const std::string& error) {
                   for (std::uint64_t id : ids)
                     if (PartitionStream* st = ctx.find_stream(id)) st->on_fetch_failed(error);
                   finish(false, true);
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

int PartitionStream::fetch_room() const {
  const WorkerConfig& cfg = ctx_.cfg;
  const std::size_t in_memory = held();
  const std::size_t bytes = scheduler.bytes();
  if (in_memory >= cfg.buffer_events || bytes >= cfg.buffer_bytes) return 0;
  std::size_t room = std::min(cfg.buffer_events - in_memory, (cfg.buffer_bytes - bytes) / avg_event_bytes);
  // Avoid a trickle of tiny fetches into a nearly full buffer.
  const std::size_t capacity = std::min(cfg.buffer_events, cfg.buffer_bytes / avg_event_bytes);
  if (in_memory > 0 && room < std::min<std::size_t>(cfg.fetch_rows, capacity) / 2) return 0;
  room = std::max<std::size_t>(room, 1);
  return static_cast<int>(std::min<std::size_t>(room, static_cast<std::size_t>(cfg.fetch_rows)));
}

void PartitionStream::maybe_fetch() {
  if (ctx_.stopping || !started || fetching || assigned == 0) return;
  GroupDomain* gd = owner;
  if (gd && gd->long_polling) {
    send_wait(ctx_, *gd);  // dirty or not: the long poll waits for its rows
    return;
  }
  if (!dirty || Clock::now() < retry_at) return;
  if (!held_loaded) {
    retries_.load_held(*this);  // fetches wait until the keys held in SQL are known
    return;
  }
  const int rows = fetch_room();
  if (rows == 0) return;
  fetching = true;
  dirty = false;
  if (!gd) {
    fetch_alone(rows);
    return;
  }
  gd->fetches_waiting.push_back(WaitingFetch{id, FetchAsk{partition, rows, fetch_cursor}, Clock::now(), held() == 0});
  send_fetches(ctx_, *gd);
}

bool PartitionStream::join_wait(FetchAsk* ask) {
  if (ctx_.stopping || !started || fetching || assigned == 0 || Clock::now() < retry_at) return false;
  if (!held_loaded) {
    retries_.load_held(*this);
    return false;
  }
  const int rows = fetch_room();
  if (rows == 0) return false;
  *ask = FetchAsk{partition, rows, fetch_cursor, dirty ? -1 : wait_tick};
  fetching = true;
  dirty = false;
  return true;
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
  keep_ticking();
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
    if (owner) start_long_poll(ctx_, *owner);
  }
  maybe_fetch();
}

void PartitionStream::on_fetch_failed(const std::string& error) {
  fetching = false;
  keep_ticking();
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

bool PartitionStream::quiet() const {
  return started && !starting && !fetching && !dirty && !committing && !to_commit && !sql_busy && sql_ops.empty() &&
         held() == 0 && sent.empty() && resolving.empty() && parking.empty() && tracker.open_batches() == 0 &&
         !(owner && owner->long_polling);
}

void PartitionStream::keep_ticking() {
  if (ticking) return;
  ticking = true;
  ctx_.ticking.push_back(id);
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
  keep_ticking();
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
