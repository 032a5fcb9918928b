// Coordinator: progressive consistency reads (DESIGN.md, "Smart consumer";
// worker/state_resolver.h).
//
// For a domain with a state_query, an event handed out by the scheduler is
// not sent at once: its key's state is read first (standby, then primary),
// and read again with back-off while even the primary is older than the
// intent's expected_version. The event stays in flight for its consumer
// meanwhile, so its key's order holds. Resolved: sent with the state.
// consistency_timeout passed, or the query failed: a failed delivery (SQL
// retry, like a nack).
#include <spdlog/spdlog.h>

#include <memory>

#include "worker/coordinator.h"
#include "worker/log_fields.h"
#include "worker/state_resolver.h"

namespace intentlog {
namespace {

constexpr auto kWarnEvery = std::chrono::seconds(10);

// One standby connection per DbPool thread, made on first use and dropped
// after an error (the next read reconnects).
thread_local std::unique_ptr<pqxx::connection> t_standby;

pqxx::connection* standby_connection(const std::string& conninfo, std::string* error) {
  if (conninfo.empty()) return nullptr;
  if (!t_standby) {
    try {
      t_standby = std::make_unique<pqxx::connection>(conninfo);
    } catch (const std::exception& e) {
      *error = e.what();
      return nullptr;
    }
  }
  return t_standby.get();
}

}  // namespace

void Coordinator::resolve_state(PartitionStream& st, std::uint64_t sid, std::int64_t seq,
                                Clock::time_point deadline, std::uint32_t reads) {
  const v1::Event* e = st.scheduler.in_flight_event(seq, sid);
  if (!e) return;
  st.resolving[seq] = sid;
  const std::uint64_t id = st.id;
  std::optional<std::int64_t> expected;
  if (e->has_expected_version()) expected = e->expected_version();
  // A read may take what is left of the timeout, and at least a little.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  const auto statement_timeout = std::max(left, std::chrono::milliseconds(100));
  db_.run(
      [replica = cfg_.replica, query = st.state_query, key = e->key(), expected, statement_timeout](Store& s) {
        std::string standby_error;
        pqxx::connection* standby = standby_connection(replica, &standby_error);
        Resolution r = resolve_once(standby, s.conn(), query, key, expected, statement_timeout);
        if (!r.standby_error.empty()) t_standby.reset();
        if (r.standby_error.empty()) r.standby_error = standby_error;
        return r;
      },
      [this, id, sid, seq, deadline, reads](Resolution r) {
        PartitionStream* st = find_stream(id);
        if (!st) return;
        state_reads_ += r.reads;
        if (!r.standby_error.empty()) {
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
          send_event(*st, sid, out);
          return;
        }
        const auto now = Clock::now();
        if (r.status == Resolution::Status::kNotYet && now + next_read_delay(total) < deadline) {
          auto timer = std::make_shared<asio::steady_timer>(io_, next_read_delay(total));
          timer->async_wait([this, id, sid, seq, deadline, total, timer](const asio::error_code& ec) {
            PartitionStream* st = find_stream(id);
            if (ec || stopping_ || !st) return;
            resolve_state(*st, sid, seq, deadline, total);
          });
          return;
        }
        st->resolving.erase(it);
        refund_credit(sid);
        const std::string error =
            r.status == Resolution::Status::kNotYet
                ? "consistency_timeout (" + std::to_string(st->consistency_timeout.count()) + " ms, " +
                      std::to_string(total) + " reads): " + r.error
                : r.error;
        spdlog::warn("event=state_unresolved group={} domain={} partition={} seq={} reads={} error={}", q(st->group),
                     q(st->domain), st->partition, seq, total, q(error));
        fail_event(*st, seq, sid, error);
      },
      [this, id, sid, seq, deadline, reads](const std::string& error) {
        // The primary could not be read (connection lost): read again
        // until the deadline, then fail the delivery.
        PartitionStream* st = find_stream(id);
        if (!st) return;
        auto it = st->resolving.find(seq);
        if (it == st->resolving.end() || it->second != sid || !st->scheduler.in_flight_event(seq, sid)) {
          if (it != st->resolving.end() && it->second == sid) st->resolving.erase(it);
          return;
        }
        if (Clock::now() + next_read_delay(reads + 1) < deadline) {
          auto timer = std::make_shared<asio::steady_timer>(io_, next_read_delay(reads + 1));
          timer->async_wait([this, id, sid, seq, deadline, reads, timer](const asio::error_code& ec) {
            PartitionStream* st = find_stream(id);
            if (ec || stopping_ || !st) return;
            resolve_state(*st, sid, seq, deadline, reads + 1);
          });
          return;
        }
        st->resolving.erase(it);
        refund_credit(sid);
        fail_event(*st, seq, sid, "state read failed: " + error);
      });
}

void Coordinator::send_event(PartitionStream& st, std::uint64_t sid, const v1::Event& e) {
  auto m = members_.find(sid);
  if (m == members_.end()) return;
  v1::ServerFrame frame;
  *frame.mutable_batch()->add_events() = e;
  st.sent[e.seq()] = {sid, Clock::now()};
  ++delivered_;
  m->second.session->send(frame);
}

void Coordinator::refund_credit(std::uint64_t sid) {
  auto m = members_.find(sid);
  if (m != members_.end()) m->second.session->refund_credit(1);
}

}  // namespace intentlog
