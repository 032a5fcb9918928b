// KafkaSink: the Kafka publisher as a member of a consumer group (the second
// sink of the delivery seam, worker/delivery/sink.h). Made at worker start
// for --kafka-group and --kafka-domains, it lives as long as the worker.
//
// Every event handed to it becomes one record (kafka_record.h) produced by
// the idempotent KafkaProducer; capacity() is --kafka-max-outstanding minus
// the records not yet reported. A delivery report that says PERSISTED is the
// event's ack; any other report, or a record librdkafka refuses at once
// (over message.max.bytes, ...), is its nack with the Kafka error, which
// takes the group's retry / dead-letter path in SQL while other keys go on.
// So the group's SQL cursor passes an intent only once Kafka has it and
// everything before it (at-least-once; the `id` header recognises repeats).
//
// Its series (kafka_metrics.h) are served by --metrics with the group's
// delivery series; the records not yet reported are a gauge read at scrape
// time.
//
// A fatal producer error (rd_kafka_fatal_error, e.g. the idempotent
// producer's sequence was lost) leaves the group — its unreported events go
// back to their keys and the cursor of what was reported is committed — and
// joins again a second later with a new producer: the group's streams
// restart from the committed cursor.
#pragma once

#include <algorithm>
#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "worker/db_pool.h"
#include "worker/delivery/sink.h"
#include "worker/kafka/kafka_config.h"
#include "worker/kafka/kafka_metrics.h"
#include "worker/kafka/kafka_producer.h"

namespace intentlog {

class Coordinator;
class PayloadCodec;

class KafkaSink : public Sink, public std::enable_shared_from_this<KafkaSink> {
 public:
  KafkaSink(asio::io_context& io, const KafkaConfig& cfg, DbPool& db, Coordinator& coordinator,
            metrics::Registry& registry);
  ~KafkaSink() override;

  // Before the event loop runs: builds the producer and checks every topic
  // against the domains' partition counts (`domain_partitions`, from SQL).
  // False and `*error` (for the user) when a topic is missing, the brokers
  // cannot be reached, or --kafka-partitioning intentlog meets a topic with
  // another partition count.
  bool prepare(const std::map<std::string, int>& domain_partitions, std::string* error);
  // Joins the group (event loop thread).
  void start();
  // Shutdown, before the worker closes its members: waits up to `timeout`
  // for outstanding records, so what Kafka has is acked and committed.
  void drain(std::chrono::milliseconds timeout);

  // Sink.
  std::uint64_t id() const override { return id_; }
  std::uint32_t capacity() const override;
  void take_capacity(std::uint32_t n) override { taken_ += n; }
  void return_capacity(std::uint32_t n) override { taken_ -= std::min<std::uint64_t>(taken_, n); }
  void joined(const v1::Welcome& welcome) override;
  void assigned(const v1::Assignment& assignment) override;
  void deliver(v1::Batch batch) override;
  void gap(const v1::Gap& gap) override;
  void close(v1::ErrorCode code, const std::string& message) override;

 private:
  using SchemaKey = std::pair<std::string, int>;  // (domain, schema_version)

  using Clock = std::chrono::steady_clock;
  void produce(const v1::Event& e, Clock::time_point now);
  void on_report(const KafkaProducer::Report& r);
  void on_fatal(const std::string& error);
  void fail_later(const v1::EventId& id, const std::string& error);
  void flush_answers();
  void log_stats();
  void arm_stats();
  void need_schema(const SchemaKey& key, v1::Event e);
  std::unique_ptr<KafkaProducer> make_producer();

  asio::io_context& io_;
  const KafkaConfig& cfg_;
  DbPool& db_;
  Coordinator& coordinator_;
  std::unique_ptr<KafkaProducer> producer_;
  struct Topic {
    std::string name;
    int partitions = 0;
    const KafkaMetrics::Domain* metrics = nullptr;
  };
  std::map<std::string, Topic> topics_;  // by domain
  KafkaMetrics metrics_;
  KafkaRecord record_;  // reused from one record to the next

  std::uint64_t id_ = 0;
  bool member_ = false;           // joined and not closed or left
  std::uint64_t taken_ = 0;       // capacity taken by the dispatcher and not answered yet
  std::uint64_t next_token_ = 1;  // of gap records
  // Events produced and not yet reported, in reused slots: a record's token
  // is its slot's index and the slot's generation (a report for a slot used
  // since is ignored). No allocation or hashing per record once warm.
  struct Pending {
    v1::EventId id;
    Clock::time_point produced_at;
    const KafkaMetrics::Domain* metrics = nullptr;
    std::uint32_t generation = 0;
    bool open = false;
  };
  std::uint64_t open_slot(const v1::Event& e, Clock::time_point now, const KafkaMetrics::Domain* metrics);
  Pending* slot_of(std::uint64_t token);
  void close_slot(Pending* p);
  void close_all_slots();
  std::vector<Pending> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::size_t open_slots_ = 0;
  std::unordered_map<std::uint64_t, v1::Gap> pending_gaps_;
  std::vector<v1::EventId> acks_;
  std::vector<std::pair<v1::EventId, std::string>> nacks_;
  bool answers_posted_ = false;
  // JSON values: payload codecs by schema version (nullptr: none to be had),
  // and events waiting for theirs.
  std::map<SchemaKey, std::unique_ptr<PayloadCodec>> codecs_;
  std::map<SchemaKey, std::vector<v1::Event>> waiting_;
  asio::steady_timer rejoin_timer_;
  asio::steady_timer stats_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  // Counters for the stats line.
  std::uint64_t produced_ = 0, persisted_ = 0, failed_ = 0, unconfirmed_ = 0, rebuilt_ = 0;
  // Produce -> delivery report, over the reports since the last stats line.
  std::uint64_t reports_ = 0;
  double report_ms_sum_ = 0, report_ms_max_ = 0;
};

}  // namespace intentlog
