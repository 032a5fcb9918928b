#include "worker/delivery/state_reads.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <memory>

#include "worker/delivery/retry_book.h"
#include "worker/log_fields.h"

namespace intentlog {
namespace {

constexpr auto kWarnEvery = std::chrono::seconds(10);

// One standby connection per DbPool thread, made on first use and dropped
// after an error (the next read reconnects), or when it was made before the
// last connection failure StandbyBackoff saw (`epoch`): the standby went
// away since, so it is likely broken too.
thread_local std::unique_ptr<pqxx::connection> t_standby;
thread_local std::uint64_t t_standby_epoch = 0;

// `*reused`: the connection was made by an earlier read.
pqxx::connection* standby_connection(const std::string& conninfo, std::uint64_t epoch, bool* reused,
                                     std::string* error) {
  if (t_standby && t_standby_epoch < epoch) t_standby.reset();
  *reused = t_standby != nullptr;
  if (!t_standby) {
    try {
      t_standby = std::make_unique<pqxx::connection>(conninfo);
      t_standby_epoch = epoch;
    } catch (const std::exception& e) {
      *error = e.what();
      return nullptr;
    }
  }
  return t_standby.get();
}

// A read of the state on a DbPool thread: the standby first if `conninfo` is
// given (the read's StandbyBackoff ticket allows it, in `epoch`), then the
// primary as needed. `broken` is the pool threads' early word on the
// standby: epoch + 1 once a read of `epoch` found it broken, so the reads
// queued behind that one skip it instead of each trying (and waiting for) a
// connect before the event loop has marked it down.
Resolution read_state_on_pool(Store& s, const std::string& conninfo, std::uint64_t epoch,
                              std::atomic<std::uint64_t>& broken, const std::string& query, const std::string& key,
                              std::optional<std::int64_t> expected, std::chrono::milliseconds statement_timeout) {
  std::string connect_error;
  bool reused = false;
  pqxx::connection* standby = nullptr;
  if (!conninfo.empty() && broken.load() <= epoch)
    standby = standby_connection(conninfo, epoch, &reused, &connect_error);
  Resolution r = resolve_once(standby, s.conn(), query, key, expected, statement_timeout);
  if (!r.standby_error.empty()) t_standby.reset();
  if (r.standby == StandbyOutcome::kConnectionFailed && reused) {
    // A connection that broke while idle (a standby restart,
    // idle_session_timeout) does not yet say the standby is down: a fresh
    // connect decides (this read already went to the primary), and names
    // the cause if it fails.
    if (standby_connection(conninfo, epoch, &reused, &connect_error)) {
      r.standby = StandbyOutcome::kReached;
      r.standby_error.clear();
    }
  }
  if (!connect_error.empty()) {
    r.standby = StandbyOutcome::kConnectionFailed;
    r.standby_error = connect_error;
  }
  if (r.standby == StandbyOutcome::kConnectionFailed) {
    std::uint64_t seen = broken.load();
    while (seen <= epoch && !broken.compare_exchange_weak(seen, epoch + 1)) {
    }
  }
  return r;
}

}  // namespace

StateReads::StateReads(DeliveryContext& ctx, RetryBook& retries, Deliver deliver, Refund refund)
    : ctx_(ctx),
      retries_(retries),
      deliver_(std::move(deliver)),
      refund_(std::move(refund)),
      // A connect_timeout in the conninfo or in PGCONNECT_TIMEOUT is the user's.
      standby_conninfo_(ctx.cfg.replica.empty() || std::getenv("PGCONNECT_TIMEOUT")
                            ? ctx.cfg.replica
                            : with_connect_timeout(ctx.cfg.replica, kStandbyConnectTimeoutSeconds)) {}

void StateReads::resolve(PartitionStream& st, std::uint64_t sid, std::int64_t seq, Clock::time_point deadline,
                         std::uint32_t reads) {
  const v1::Event* e = st.scheduler.in_flight_event(seq, sid);
  if (!e) return;
  st.resolving[seq] = sid;
  const std::uint64_t id = st.id;
  std::optional<std::int64_t> expected;
  if (e->has_expected_version()) expected = e->expected_version();
  // A read may take what is left of the timeout, and at least a little.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  const auto statement_timeout = std::max(left, std::chrono::milliseconds(100));
  // Down and backing off: the primary alone (the Event says so).
  const StandbyBackoff::Ticket ticket =
      standby_conninfo_.empty() ? StandbyBackoff::Ticket{} : standby_.acquire(Clock::now());
  ctx_.db.run(
      [conninfo = ticket.use ? standby_conninfo_ : std::string(), epoch = ticket.epoch, broken = standby_broken_,
       query = st.state_query, key = e->key(), expected, statement_timeout](Store& s) {
        return read_state_on_pool(s, conninfo, epoch, *broken, query, key, expected, statement_timeout);
      },
      [this, id, sid, seq, deadline, reads, ticket](Resolution r) {
        note_standby(ticket, r);  // first: a probe's outcome must not be lost with its stream
        PartitionStream* st = ctx_.find_stream(id);
        if (!st) return;
        ctx_.stats.state_reads += r.reads;
        count_reads(st->domain, r);
        if (r.standby == StandbyOutcome::kReached && !r.standby_error.empty()) {
          // A query error on the standby (the primary was read instead).
          const auto now = Clock::now();
          if (now - st->fetch_warned_at > kWarnEvery) {
            st->fetch_warned_at = now;
            spdlog::warn("event=standby_read_failed domain={} error={}", q(st->domain), q(r.standby_error));
          }
        }
        auto it = st->resolving.find(seq);
        const v1::Event* e = st->scheduler.in_flight_event(seq, sid);
        if (it == st->resolving.end() || it->second != sid || !e) {
          // Its consumer left; the event was released for redelivery.
          if (it != st->resolving.end() && it->second == sid) st->resolving.erase(it);
          return;
        }
        const std::uint32_t total = reads + r.reads;
        if (r.status == Resolution::Status::kResolved) {
          st->resolving.erase(it);
          v1::Event out = *e;
          *out.mutable_state() = std::move(r.state);
          out.mutable_state()->set_reads(total);
          deliver_(*st, sid, out);
          return;
        }
        const auto now = Clock::now();
        if (r.status == Resolution::Status::kNotYet && now + next_read_delay(total) < deadline) {
          retry_later(id, sid, seq, deadline, total, next_read_delay(total));
          return;
        }
        st->resolving.erase(it);
        refund_(sid);
        const std::string error = r.status == Resolution::Status::kNotYet
                                      ? "consistency_timeout (" + std::to_string(st->consistency_timeout.count()) +
                                            " ms, " + std::to_string(total) + " reads): " + r.error
                                      : r.error;
        spdlog::warn("event=state_unresolved group={} domain={} partition={} seq={} reads={} error={}", q(st->group),
                     q(st->domain), st->partition, seq, total, q(error));
        retries_.fail_event(*st, seq, sid, error);
      },
      [this, id, sid, seq, deadline, reads, ticket](const std::string& error) {
        // The primary could not be read (connection lost): read again
        // until the deadline, then fail the delivery.
        standby_.abandoned(ticket);
        PartitionStream* st = ctx_.find_stream(id);
        if (!st) return;
        auto it = st->resolving.find(seq);
        if (it == st->resolving.end() || it->second != sid || !st->scheduler.in_flight_event(seq, sid)) {
          if (it != st->resolving.end() && it->second == sid) st->resolving.erase(it);
          return;
        }
        if (Clock::now() + next_read_delay(reads + 1) < deadline) {
          retry_later(id, sid, seq, deadline, reads + 1, next_read_delay(reads + 1));
          return;
        }
        st->resolving.erase(it);
        refund_(sid);
        retries_.fail_event(*st, seq, sid, "state read failed: " + error);
      });
}

// Moves StandbyBackoff with what a read found, and logs the transitions
// (once per outage, not per intent; failed probes at debug level).
void StateReads::note_standby(const StandbyBackoff::Ticket& ticket, const Resolution& r) {
  if (!ticket.use) return;
  const auto now = Clock::now();
  std::string error = r.standby_error;  // libpq's messages end with a newline
  while (!error.empty() && std::isspace(static_cast<unsigned char>(error.back()))) error.pop_back();
  switch (r.standby) {
    case StandbyOutcome::kReached: {
      const std::uint32_t failures = standby_.failures();
      if (standby_.reached(ticket) == StandbyBackoff::Change::kUp) {
        const auto down = std::chrono::duration_cast<std::chrono::milliseconds>(now - standby_.down_since());
        spdlog::info("event=standby_up down_ms={} failures={}", down.count(), failures);
      }
      break;
    }
    case StandbyOutcome::kConnectionFailed: {
      const std::uint64_t epoch = standby_.epoch();
      const StandbyBackoff::Change change = standby_.failed(ticket, now);
      if (change == StandbyBackoff::Change::kDown) {
        spdlog::warn("event=standby_down error={} retry_in_ms={}", q(error), standby_.retry_in().count());
      } else if (standby_.epoch() != epoch) {
        spdlog::debug("event=standby_probe_failed failures={} error={} retry_in_ms={}", standby_.failures(), q(error),
                      standby_.retry_in().count());
      }
      break;
    }
    case StandbyOutcome::kNotRead:
      standby_.abandoned(ticket);
      break;
  }
}

// Where one round's reads went: the standby (if it was tried) and then the
// primary; a primary read while a standby is configured is a fallback.
void StateReads::count_reads(const std::string& domain, const Resolution& r) {
  const std::uint32_t on_standby = r.standby == StandbyOutcome::kNotRead ? 0 : 1;
  const std::uint32_t on_primary = r.reads > on_standby ? r.reads - on_standby : 0;
  if (on_standby) ctx_.metrics.state_reads(domain, "standby").inc(on_standby);
  if (on_primary) {
    ctx_.metrics.state_reads(domain, "primary").inc(on_primary);
    if (!standby_conninfo_.empty()) ctx_.metrics.state_fallbacks(domain).inc(on_primary);
  }
}

void StateReads::retry_later(std::uint64_t id, std::uint64_t sid, std::int64_t seq, Clock::time_point deadline,
                             std::uint32_t reads, Clock::duration delay) {
  auto timer = std::make_shared<asio::steady_timer>(ctx_.io, delay);
  timer->async_wait([this, id, sid, seq, deadline, reads, timer](const asio::error_code& ec) {
    PartitionStream* st = ctx_.find_stream(id);
    if (ec || ctx_.stopping || !st) return;
    resolve(*st, sid, seq, deadline, reads);
  });
}

}  // namespace intentlog
