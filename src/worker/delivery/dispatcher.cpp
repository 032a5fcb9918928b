#include "worker/delivery/dispatcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "worker/delivery/retry_book.h"
#include "worker/delivery/state_reads.h"
#include "worker/log_fields.h"

namespace intentlog {

void Dispatcher::pump(std::uint64_t id) {
  Member* m = membership_.find(id);
  if (!m) return;
  Sink& sink = *m->sink;
  const WorkerConfig& cfg = ctx_.cfg;
  const auto now = PartitionStream::Clock::now();
  constexpr int kPerStreamTurn = 16;
  while (sink.capacity() > 0 && !m->streams.empty()) {
    v1::Batch batch;
    std::size_t bytes = 0;
    std::uint32_t budget = std::min<std::uint32_t>(sink.capacity(), static_cast<std::uint32_t>(cfg.max_batch_events));
    bool progress = true;
    while (progress && budget > 0 && bytes < cfg.max_batch_bytes) {
      progress = false;
      const std::size_t n = m->streams.size();
      for (std::size_t i = 0; i < n && budget > 0 && bytes < cfg.max_batch_bytes; ++i) {
        PartitionStream* st = m->streams[(m->rr + i) % n];
        if (st->assigned != id) continue;
        for (int k = 0; k < kPerStreamTurn && budget > 0 && bytes < cfg.max_batch_bytes; ++k) {
          const v1::Event* e = st->scheduler.pop_ready(now, id);
          if (!e) break;
          if (!st->state_query.empty()) {
            // Delivered once its state is read; the capacity is taken now.
            sink.take_capacity(1);
            --budget;
            progress = true;
            states_->resolve(*st, id, e->seq(), now + st->consistency_timeout, 0);
            continue;
          }
          st->sent[e->seq()] = {id, now};
          st->metrics.delivered->inc();
          *batch.add_events() = *e;
          bytes += e->payload().size() + e->key().size() + e->headers_json().size() + 64;
          --budget;
          progress = true;
        }
      }
      m->rr = (m->rr + 1) % n;
    }
    if (batch.events().empty()) break;
    const auto sent = static_cast<std::uint32_t>(batch.events_size());
    sink.take_capacity(sent);
    ctx_.stats.delivered += sent;
    sink.deliver(std::move(batch));
  }
}

PartitionStream* Dispatcher::stream_of(const Member& m, const v1::EventId& id) {
  GroupDomain* gd = ctx_.find_group(m.request.group, id.domain());
  if (!gd) return nullptr;
  auto s = gd->streams.find(id.partition());
  return s == gd->streams.end() ? nullptr : s->second.get();
}

void Dispatcher::ack(std::uint64_t id, const std::vector<v1::EventId>& events) {
  Member* m = membership_.find(id);
  if (!m) return;
  std::set<PartitionStream*> touched;
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  PartitionStream* st = nullptr;  // acks come in runs of one partition: look its stream up once per run
  const v1::EventId* run = nullptr;
  for (const auto& ev : events) {
    if (!run || ev.partition() != run->partition() || ev.domain() != run->domain()) {
      st = stream_of(*m, ev);
      run = &ev;
    }
    if (st && st->ack(ev.seq(), id, now)) touched.insert(st);
  }
  std::set<std::uint64_t> to_pump{id};
  for (PartitionStream* st : touched) {
    st->maybe_fetch();
    if (st->assigned) to_pump.insert(st->assigned);
  }
  for (std::uint64_t s : to_pump) pump(s);
}

void Dispatcher::nack(std::uint64_t id, const v1::EventId& ev, const std::string& error) {
  Member* m = membership_.find(id);
  if (!m) return;
  PartitionStream* st = stream_of(*m, ev);
  if (!st || st->resolving.count(ev.seq())) return;  // not sent yet
  const v1::Event* e = st->scheduler.in_flight_event(ev.seq(), id);
  if (!e) return;
  spdlog::warn("event=nack session={} group={} domain={} partition={} seq={} key={} attempt={} error={}", id,
               q(st->group), q(st->domain), st->partition, ev.seq(), q(e->key()), e->attempt(), q(error));
  ++ctx_.stats.nacked;
  st->metrics.nacked->inc();
  // A retry in SQL: the cursor moves on, other keys never wait for it.
  retries_.fail_event(*st, ev.seq(), id, error.empty() ? "nack" : "nack: " + error);
  pump(id);
}

void Dispatcher::deliver_one(PartitionStream& st, std::uint64_t id, const v1::Event& e) {
  Member* m = membership_.find(id);
  if (!m) return;
  v1::Batch batch;
  *batch.add_events() = e;
  st.sent[e.seq()] = {id, PartitionStream::Clock::now()};
  ++ctx_.stats.delivered;
  st.metrics.delivered->inc();
  m->sink->deliver(std::move(batch));
}

void Dispatcher::return_capacity(std::uint64_t id) {
  if (Member* m = membership_.find(id)) m->sink->return_capacity(1);
}

}  // namespace intentlog
