#include "worker/delivery/retry_book.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <set>

#include "worker/delivery_store.h"
#include "worker/log_fields.h"

namespace intentlog {
namespace {

constexpr auto kSqlRetryDelay = std::chrono::seconds(1);
constexpr int kDueRows = 200;

}  // namespace

void RetryBook::enqueue_sql(PartitionStream& st, SqlWork work) {
  st.sql_ops.push_back(std::move(work));
  if (!st.sql_busy) run_sql(st.id);
}

// Runs the stream's first queued SQL call; on failure it is tried again
// (the calls behind it wait: their order is the point).
void RetryBook::run_sql(std::uint64_t id) {
  PartitionStream* st = ctx_.find_stream(id);
  if (!st || st->sql_ops.empty()) {
    if (st) st->sql_busy = false;
    return;
  }
  st->sql_busy = true;
  ctx_.db.run([work = st->sql_ops.front()](Store& s) { return work(s); },
              [this, id](SqlStep step) {
                PartitionStream* st = ctx_.find_stream(id);
                if (!st) return;
                st->sql_ops.pop_front();
                step(*st);
                run_sql(id);
              },
              [this, id](const std::string& error) {
                PartitionStream* st = ctx_.find_stream(id);
                if (!st) return;
                spdlog::warn("event=delivery_sql_failed group={} domain={} partition={} error={}", q(st->group),
                             q(st->domain), st->partition, q(error));
                auto timer = std::make_shared<asio::steady_timer>(ctx_.io, kSqlRetryDelay);
                timer->async_wait([this, id, timer](const asio::error_code& ec) {
                  if (!ec && !ctx_.stopping) run_sql(id);
                });
              });
}

// The stream is closing: its queued delivery SQL still runs, in order, in
// one job (an acknowledged retry must not stay in intentlog.retries and be
// delivered again); what the results would have changed in memory no longer
// matters. The call in flight, if any, completes on its own.
void RetryBook::flush(PartitionStream& st) {
  std::deque<SqlWork> ops = std::move(st.sql_ops);
  st.sql_ops.clear();
  if (st.sql_busy && !ops.empty()) ops.pop_front();  // the one in flight
  if (ops.empty()) return;
  ctx_.db.run(
      [ops = std::move(ops)](Store& s) {
        for (const auto& work : ops) {
          try {
            work(s);
          } catch (const pqxx::broken_connection&) {
            throw;
          } catch (const std::exception&) {
            // Not applied: the next owner delivers from the committed cursor.
          }
        }
        return true;
      },
      [](bool) {}, [](const std::string&) {});
}

// At lease time: claims of a previous owner are void, and the keys SQL holds
// must be known before the first fetch (their intents must not go out).
void RetryBook::load_held(PartitionStream& st) {
  if (st.held_loading) return;
  st.held_loading = true;
  const std::uint64_t id = st.id;
  ctx_.db.run(
      [g = st.group, d = st.domain, p = st.partition](Store& s) {
        release_claims(s.conn(), g, d, {p});
        return held_keys(s.conn(), g, d, p);
      },
      [this, id](std::vector<std::string> keys) {
        PartitionStream* st = ctx_.find_stream(id);
        if (!st) return;
        st->held_loading = false;
        st->held_loaded = true;
        st->sql_held.insert(keys.begin(), keys.end());
        if (!keys.empty()) due_soon(*st);
        st->maybe_fetch();
      },
      [this, id](const std::string& error) {
        PartitionStream* st = ctx_.find_stream(id);
        if (!st) return;
        st->held_loading = false;
        st->retry_at = Clock::now() + kSqlRetryDelay;
        spdlog::warn("event=held_keys_failed group={} domain={} partition={} error={}", q(st->group), q(st->domain),
                     st->partition, q(error));
      });
}

// Fetched intents of free keys go to the scheduler at once; those of held
// keys wait for intentlog.park, which parks them (or says they are already
// held) or, if the key was freed meanwhile, lets them through, in order.
void RetryBook::accept_fetched(PartitionStream& st, std::uint64_t batch, std::vector<v1::Event> events) {
  auto to_park = std::make_shared<std::vector<v1::Event>>();
  for (auto& e : events) {
    if (st.sql_held.count(e.key()) || st.parking.count(e.key())) {
      ++st.parking[e.key()];
      to_park->push_back(std::move(e));
    } else {
      st.scheduler.push(KeyScheduler::Item{batch, std::move(e)});
    }
  }
  if (to_park->empty()) return;
  enqueue_sql(st, [this, g = st.group, d = st.domain, p = st.partition, batch, to_park](Store& s) -> SqlStep {
    std::vector<const v1::Event*> ptrs;
    for (const auto& e : *to_park) ptrs.push_back(&e);
    auto held = std::make_shared<std::unordered_set<std::int64_t>>(park(s.conn(), g, d, p, ptrs));
    return [this, batch, to_park, held](PartitionStream& st) {
      for (auto& e : *to_park) {
        auto it = st.parking.find(e.key());
        if (it != st.parking.end() && --it->second == 0) st.parking.erase(it);
        if (held->count(e.seq())) {
          st.tracker.resolve(batch);
          ++ctx_.stats.parked;
          st.metrics.parked->inc();
        } else {
          st.scheduler.push(KeyScheduler::Item{batch, std::move(e)});
        }
      }
      ctx_.wake(st.assigned);
      st.maybe_fetch();
    };
  });
}

void RetryBook::fail_event(PartitionStream& st, std::int64_t seq, std::uint64_t owner, const std::string& error) {
  const v1::Event* e = st.scheduler.in_flight_event(seq, owner);
  if (!e) return;
  const std::uint32_t attempt = std::max<std::uint32_t>(e->attempt(), 1);
  const std::string key = e->key();
  st.sent.erase(seq);
  // A retried event's attempt is SQL's to count (a consumer that left may
  // have bumped the one in memory).
  const std::uint32_t reported = st.retried.erase(seq) ? 0 : attempt;
  std::vector<KeyScheduler::Item> items = st.scheduler.take_key(seq, owner);
  st.sql_held.insert(key);
  std::vector<std::int64_t> followers;
  std::vector<std::uint64_t> batches;  // 0: a retried event, in no batch
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) followers.push_back(items[i].event.seq());
    batches.push_back(items[i].batch);
  }
  enqueue_sql(
      st,
      [this, g = st.group, d = st.domain, p = st.partition, seq, error, attempt, reported, followers, batches,
       key](Store& s) -> SqlStep {
        const FailureOutcome out = record_failure(s.conn(), g, d, p, seq, error, reported, followers);
        // A dead letter may leave nothing of its key in SQL (no parked intents,
        // on_dead_letter = continue): then no retry_delivered will ever free the
        // key, so ask. Unknown (the call failed) keeps it held, as before.
        bool still_held = true;
        if (out.outcome == "dead_letter") {
          try {
            const std::vector<std::string> held = held_keys(s.conn(), g, d, p);
            still_held = std::find(held.begin(), held.end(), key) != held.end();
          } catch (const std::exception&) {
          }
        }
        return [this, seq, out, batches, key, attempt, followers, still_held](PartitionStream& st) {
          for (std::uint64_t b : batches) {
            if (b) st.tracker.resolve(b);
          }
          if (out.outcome == "dead_letter") {
            ++ctx_.stats.dead_letters;
            st.metrics.dead_letters->inc();
            spdlog::warn(
                "event=dead_letter group={} domain={} partition={} seq={} key={} attempts={} dead_letter_id={} "
                "parked={}",
                q(st.group), q(st.domain), st.partition, seq, q(key), out.failed_attempts,
                out.dead_letter_id.value_or(0), followers.size());
            due_soon(st);  // with on_dead_letter = continue, the key's next intent is due now
            if (!still_held && !st.parking.count(key)) st.sql_held.erase(key);  // it streams freely again
          } else {
            ++ctx_.stats.retries;
            st.metrics.retries->inc();
            spdlog::info(
                "event=retry_scheduled group={} domain={} partition={} seq={} key={} attempt={} outcome={} parked={}",
                q(st.group), q(st.domain), st.partition, seq, q(key), attempt, out.outcome, followers.size());
          }
          st.maybe_fetch();
          ctx_.wake(st.assigned);
        };
      });
}

void RetryBook::retry_acked(PartitionStream& st, std::int64_t seq, const std::string& key) {
  st.retried.erase(seq);
  enqueue_sql(st, [this, g = st.group, d = st.domain, p = st.partition, seq, key](Store& s) -> SqlStep {
    const std::optional<int> left = retry_delivered(s.conn(), g, d, p, seq);
    return [this, left, key](PartitionStream& st) {
      if (left.value_or(0) > 0) {
        due_soon(st);  // the key's next parked intent is due now
      } else if (!st.parking.count(key)) {
        st.sql_held.erase(key);  // nothing of the key left in SQL: it streams freely again
      }
    };
  });
}

// Something of the stream's group and domain may be due now (a retry was
// acknowledged with more of its key parked, a key died): ask at once.
void RetryBook::due_soon(const PartitionStream& st) {
  GroupDomain* gd = ctx_.find_group(st.group, st.domain);
  if (!gd) return;
  gd->due_poll_at = Clock::time_point{};
  asio::post(ctx_.io, [this, key = GroupDomainKey{st.group, st.domain}] {
    if (GroupDomain* g = ctx_.find_group(key.first, key.second)) poll_due(*g, Clock::now());
  });
}

// Groups with keys held in SQL (or asked for at once) are polled at the
// retry interval; the others (a DBA may redrive dead letters, another worker
// may have left retries behind) at the poll interval, and then only those
// that one query for all of them finds with rows in intentlog.retries or
// intentlog.parked: idle groups cost one query, not one per (group, domain).
void RetryBook::poll_all() {
  const auto now = Clock::now();
  std::vector<GroupDomainKey> idle;
  for (auto& [key, gd] : ctx_.groups) {
    if (gd->due_in_flight || ctx_.stopping || now < gd->due_poll_at) continue;
    bool any_held = gd->due_poll_at == Clock::time_point{};
    for (auto& [p, st] : gd->streams) any_held = any_held || !st->sql_held.empty();
    if (any_held) {
      poll_due(*gd, now);
    } else {
      gd->due_poll_at = now + ctx_.cfg.poll;
      idle.push_back(key);
    }
  }
  if (idle.empty() || probe_in_flight_) return;
  probe_in_flight_ = true;
  ctx_.db.run([idle](Store& s) { return groups_with_retries(s.conn(), idle); },
              [this](std::vector<GroupDomainKey> found) {
                probe_in_flight_ = false;
                for (const auto& key : found)
                  if (GroupDomain* gd = ctx_.find_group(key.first, key.second)) {
                    gd->due_poll_at = Clock::time_point{};
                    poll_due(*gd, Clock::now());
                  }
              },
              [this](const std::string& error) {
                probe_in_flight_ = false;
                spdlog::warn("event=due_probe_failed error={}", q(error));
              });
}

// Asks SQL for the retries and parked intents that are due, for the
// partitions of a (group, domain) held here. Often while keys are held,
// at the poll interval otherwise (a DBA may redrive dead letters).
void RetryBook::poll_due(GroupDomain& gd, Clock::time_point now) {
  if (gd.due_in_flight || ctx_.stopping || now < gd.due_poll_at) return;
  std::vector<int> parts;
  bool any_held = false;
  for (auto& [p, st] : gd.streams) {
    if (!st->held_loaded || !st->assigned) continue;
    parts.push_back(p);
    any_held = any_held || !st->sql_held.empty();
  }
  gd.due_poll_at = now + (any_held ? ctx_.cfg.retry_poll : ctx_.cfg.poll);
  if (parts.empty()) return;
  gd.due_in_flight = true;
  const GroupDomainKey key{gd.group, gd.domain};
  const std::uint64_t gen = gd.generation;
  // Claimed for longer than the worker may hold it: a state read plus an ack timeout.
  const auto claim = ctx_.cfg.ack_timeout + std::chrono::seconds(30);
  ctx_.db.run(
      [key, parts, claim](Store& s) { return due_retries(s.conn(), key.first, key.second, parts, kDueRows, claim); },
      [this, key, gen](std::vector<v1::Event> events) {
        GroupDomain* gd = ctx_.find_group(key.first, key.second);
        if (!gd || gd->generation != gen) return;
        gd->due_in_flight = false;
        std::set<std::uint64_t> to_pump;
        for (auto& e : events) {
          auto it = gd->streams.find(e.partition());
          if (it == gd->streams.end()) continue;  // lease lost: the next owner releases the claim
          PartitionStream& st = *it->second;
          if (!st.retried.insert(e.seq()).second) continue;  // still in memory from an earlier claim
          st.sql_held.insert(e.key());
          ++ctx_.stats.redelivered;
          st.metrics.redelivered->inc();
          st.scheduler.push(KeyScheduler::Item{0, std::move(e)});
          if (st.assigned) to_pump.insert(st.assigned);
        }
        if (events.size() >= static_cast<std::size_t>(kDueRows)) gd->due_poll_at = Clock::time_point{};
        for (std::uint64_t sid : to_pump) ctx_.wake(sid);
      },
      [this, key, gen](const std::string& error) {
        GroupDomain* gd = ctx_.find_group(key.first, key.second);
        if (!gd || gd->generation != gen) return;
        gd->due_in_flight = false;
        spdlog::warn("event=due_retries_failed group={} domain={} error={}", q(key.first), q(key.second), q(error));
      });
}

void RetryBook::check_ack_timeouts(PartitionStream& st, Clock::time_point now) {
  if (st.sent.empty()) return;
  std::vector<std::pair<std::int64_t, std::uint64_t>> expired;
  for (auto it = st.sent.begin(); it != st.sent.end();) {
    const auto& [seq, who] = *it;
    if (!st.scheduler.in_flight_event(seq, who.first)) {
      it = st.sent.erase(it);  // released (its consumer left) and not handed out again yet
      continue;
    }
    if (now - who.second >= ctx_.cfg.ack_timeout) expired.emplace_back(seq, who.first);
    ++it;
  }
  for (const auto& [seq, owner] : expired) {
    spdlog::warn("event=ack_timeout group={} domain={} partition={} seq={} session={} timeout_ms={}", q(st.group),
                 q(st.domain), st.partition, seq, owner, ctx_.cfg.ack_timeout.count());
    fail_event(st, seq, owner,
               "ack timeout: not acknowledged within " + std::to_string(ctx_.cfg.ack_timeout.count()) + " ms");
  }
}

}  // namespace intentlog
