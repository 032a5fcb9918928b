// KafkaProducer: one idempotent librdkafka producer (enable.idempotence,
// acks=all, message.timeout.ms=0: librdkafka retries every transient error
// in order and never gives a record up by timeout) driven from the worker's
// event loop. librdkafka signals its main queue through a pipe
// (rd_kafka_queue_io_event_enable); the loop reads the pipe and serves
// delivery reports with rd_kafka_poll on the loop's thread, so reports touch
// worker state without locks. A timer polls too, for error callbacks.
//
// Each record carries a token; its delivery report comes back as
// (token, error, persisted) where persisted means rd_kafka_message_status
// said PERSISTED and the error is 0. A fatal error of the idempotent
// producer (rd_kafka_fatal_error) is reported once through on_fatal; reports
// after it are dropped (whoever owns the producer replaces it and replays).
#pragma once

#include <librdkafka/rdkafka.h>

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "worker/kafka/kafka_config.h"
#include "worker/kafka/kafka_record.h"

namespace intentlog {

class KafkaProducer {
 public:
  // A delivery report: the record's token, its error, whether Kafka has it,
  // and where it landed (partition, offset; -1 when unknown).
  struct Report {
    std::uint64_t token = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    bool persisted = false;
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    // When the poll that served it began: one clock read per burst of
    // reports, not one per record.
    std::chrono::steady_clock::time_point served_at;
  };
  using OnReport = std::function<void(const Report&)>;
  using OnFatal = std::function<void(const std::string& error)>;
  // A transient error librdkafka retries by itself (transport, brokers down).
  using OnError = std::function<void(rd_kafka_resp_err_t err)>;

  // Throws std::runtime_error (with librdkafka's message) on a bad setting.
  KafkaProducer(asio::io_context& io, const KafkaConfig& cfg, OnReport on_report, OnFatal on_fatal, OnError on_error);
  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  // The topic's partition count from the brokers' metadata; blocks up to
  // `timeout`. -1 and `*error` when the topic or the brokers cannot be had.
  int partition_count(const std::string& topic, std::chrono::milliseconds timeout, std::string* error);

  // Hands a record to librdkafka. 0, or the error that refused it at once
  // (e.g. MSG_SIZE_TOO_LARGE over message.max.bytes, _QUEUE_FULL).
  rd_kafka_resp_err_t produce(const KafkaRecord& r, std::uint64_t token);

  // Records handed over and not yet reported (librdkafka's queue and in flight).
  int outstanding() const { return rd_kafka_outq_len(rk_); }
  bool failed() const { return fatal_; }

  // Serves delivery reports until none is left or `timeout` passed (shutdown).
  void flush(std::chrono::milliseconds timeout);

 private:
  static void delivery_report(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void error_callback(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void log_callback(const rd_kafka_t* rk, int level, const char* fac, const char* buf);
  void read_wakeup();
  void arm_timer();
  void poll();
  // The topic handle of `name`, made once: producing by handle spares
  // librdkafka a locked lookup of the name per record.
  rd_kafka_topic_t* topic(const std::string& name);

  asio::io_context& io_;
  OnReport on_report_;
  OnFatal on_fatal_;
  OnError on_error_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_queue_t* main_queue_ = nullptr;
  std::map<std::string, rd_kafka_topic_t*> topics_;
  int pipe_[2] = {-1, -1};
  asio::posix::stream_descriptor wakeup_;
  asio::steady_timer timer_;
  char wakeup_buf_[64];
  bool fatal_ = false;
  bool fatal_reported_ = false;
  std::chrono::steady_clock::time_point served_at_;  // of the poll being served
  // Cancelled callbacks must not touch a destroyed producer.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace intentlog
