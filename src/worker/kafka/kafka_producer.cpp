#include "worker/kafka/kafka_producer.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "worker/log_fields.h"

namespace intentlog {
namespace {

constexpr auto kPollEvery = std::chrono::milliseconds(100);
constexpr int kMaxPollsPerTurn = 1000;  // then yield to the rest of the loop

void set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error("librdkafka setting " + key + ": " + err);  // never the value: it may be a password
  }
}

}  // namespace

KafkaProducer::KafkaProducer(asio::io_context& io, const KafkaConfig& cfg, OnReport on_report, OnFatal on_fatal,
                             OnError on_error)
    : io_(io),
      on_report_(std::move(on_report)),
      on_fatal_(std::move(on_fatal)),
      on_error_(std::move(on_error)),
      wakeup_(io),
      timer_(io) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", cfg.brokers);
  set(conf, "client.id", "intentlog-worker");
  // Defaults the user may change with -X. Without TCP_NODELAY a Produce
  // request can wait for the peer's delayed ACK: against the local mock
  // cluster delivery reports took 12-45 ms on average without it, 6-10 ms
  // with it (bench/RESULTS.md, "Kafka publication").
  set(conf, "linger.ms", "5");
  set(conf, "socket.nagle.disable", "true");
  for (const auto& [k, v] : cfg.settings) set(conf, k, v);
  // After the user's settings: the parser refused different values for these.
  set(conf, "enable.idempotence", "true");
  set(conf, "acks", "all");
  set(conf, "message.timeout.ms", "0");
  rd_kafka_conf_set_dr_msg_cb(conf, &KafkaProducer::delivery_report);
  rd_kafka_conf_set_error_cb(conf, &KafkaProducer::error_callback);
  rd_kafka_conf_set_log_cb(conf, &KafkaProducer::log_callback);
  rd_kafka_conf_set_opaque(conf, this);
  char err[512];
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);  // owns conf on success
  if (!rk_) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("cannot create the Kafka producer: ") + err);
  }
  if (pipe2(pipe_, O_NONBLOCK | O_CLOEXEC) != 0) {
    rd_kafka_destroy(rk_);
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  main_queue_ = rd_kafka_queue_get_main(rk_);
  rd_kafka_queue_io_event_enable(main_queue_, pipe_[1], "1", 1);
  wakeup_.assign(pipe_[0]);
  read_wakeup();
  arm_timer();
}

KafkaProducer::~KafkaProducer() {
  *alive_ = false;
  fatal_ = true;  // reports from here on are dropped
  asio::error_code ignored;
  timer_.cancel();
  wakeup_.cancel(ignored);
  rd_kafka_queue_io_event_enable(main_queue_, -1, nullptr, 0);
  rd_kafka_queue_destroy(main_queue_);
  // Whatever was not reported is delivered again by whoever replays from the
  // SQL cursor; do not wait for brokers that may be down.
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
  for (const auto& t : topics_) rd_kafka_topic_destroy(t.second);
  rd_kafka_destroy(rk_);
  ::close(pipe_[1]);
}

int KafkaProducer::partition_count(const std::string& topic, std::chrono::milliseconds timeout, std::string* error) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
  if (!rkt) {
    *error = std::string("topic ") + topic + ": " + rd_kafka_err2str(rd_kafka_last_error());
    return -1;
  }
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, rkt, &md, static_cast<int>(timeout.count()));
  int count = -1;
  if (err) {
    *error = "metadata of topic " + topic + ": " + rd_kafka_err2str(err);
  } else if (md->topic_cnt != 1 || md->topics[0].err) {
    *error = "topic " + topic + ": " +
             (md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : std::string("not in the metadata"));
  } else {
    count = md->topics[0].partition_cnt;
  }
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  return count;
}

rd_kafka_topic_t* KafkaProducer::topic(const std::string& name) {
  auto it = topics_.find(name);
  if (it != topics_.end()) return it->second;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, name.c_str(), nullptr);
  if (rkt) topics_.emplace(name, rkt);
  return rkt;
}

rd_kafka_resp_err_t KafkaProducer::produce(const KafkaRecord& r, std::uint64_t token) {
  if (fatal_) return RD_KAFKA_RESP_ERR__FATAL;
  rd_kafka_topic_t* rkt = topic(r.topic);
  if (!rkt) return rd_kafka_last_error();
  rd_kafka_headers_t* headers = rd_kafka_headers_new(r.headers.size());
  for (const auto& [name, value] : r.headers)
    rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                        static_cast<ssize_t>(value.size()));
  const char* key = r.key ? r.key->data() : nullptr;  // none: a NULL key
  const std::size_t key_len = r.key ? r.key->size() : 0;
  void* value = const_cast<char*>(r.value.data());
  void* opaque = reinterpret_cast<void*>(static_cast<std::uintptr_t>(token));
  const rd_kafka_resp_err_t err =
      rd_kafka_producev(rk_, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(r.partition), RD_KAFKA_V_KEY(key, key_len),
                        RD_KAFKA_V_VALUE(value, r.value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
  if (err) rd_kafka_headers_destroy(headers);  // librdkafka owns them only on success
  return err;
}

void KafkaProducer::flush(std::chrono::milliseconds timeout) {
  // Serves delivery reports on this thread as it waits, each with a clock
  // read of its own (the wait can be long).
  served_at_ = {};
  rd_kafka_flush(rk_, static_cast<int>(timeout.count()));
}

void KafkaProducer::delivery_report(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<KafkaProducer*>(opaque);
  if (self->fatal_ || m->err == RD_KAFKA_RESP_ERR__FATAL || m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
      m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
    return;
  Report r;
  r.token = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(m->_private));
  r.err = m->err;
  r.persisted = m->err == RD_KAFKA_RESP_ERR_NO_ERROR && rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_PERSISTED;
  r.partition = m->partition;
  r.offset = m->offset;
  r.served_at =
      self->served_at_ == std::chrono::steady_clock::time_point{} ? std::chrono::steady_clock::now() : self->served_at_;
  self->on_report_(r);
}

void KafkaProducer::error_callback(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<KafkaProducer*>(opaque);
  if (err != RD_KAFKA_RESP_ERR__FATAL) {
    // Transient (brokers down, transport): librdkafka keeps retrying.
    spdlog::warn("event=kafka_error error={} reason={}", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)),
                 q(reason));
    if (self->on_error_) self->on_error_(static_cast<rd_kafka_resp_err_t>(err));
    return;
  }
  char why[512];
  const rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk, why, sizeof why);
  self->fatal_ = true;
  if (self->fatal_reported_) return;
  self->fatal_reported_ = true;
  const std::string message = std::string(rd_kafka_err2name(fatal)) + ": " + why;
  // Not from inside librdkafka's poll: the owner destroys this producer.
  asio::post(self->io_, [self, alive = self->alive_, message] {
    if (*alive) self->on_fatal_(message);
  });
}

void KafkaProducer::log_callback(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  // syslog levels: 0-3 errors, 4 warning, 5-6 notice/info, 7 debug.
  if (level <= 4)
    spdlog::warn("event=kafka_log facility={} message={}", fac, q(buf));
  else
    spdlog::debug("event=kafka_log facility={} message={}", fac, q(buf));
}

void KafkaProducer::read_wakeup() {
  wakeup_.async_read_some(asio::buffer(wakeup_buf_), [this, alive = alive_](const asio::error_code& ec, std::size_t) {
    if (!*alive || ec == asio::error::operation_aborted) return;
    poll();
    read_wakeup();
  });
}

void KafkaProducer::arm_timer() {
  timer_.expires_after(kPollEvery);
  timer_.async_wait([this, alive = alive_](const asio::error_code& ec) {
    if (!*alive || ec) return;
    poll();
    arm_timer();
  });
}

void KafkaProducer::poll() {
  const auto alive = alive_;  // a report may end this producer's owner's interest, never the producer
  served_at_ = std::chrono::steady_clock::now();
  for (int i = 0; i < kMaxPollsPerTurn; ++i) {
    if (rd_kafka_poll(rk_, 0) == 0) return;
    if (!*alive) return;
  }
  asio::post(io_, [this, alive] {
    if (*alive) poll();
  });
}

}  // namespace intentlog
