// Registry: the worker's metrics, in the Prometheus data model (counters,
// gauges, histograms with labels), rendered in the text exposition format
// (version 0.0.4) for `--metrics tcp:HOST:PORT` (http_listener.h).
//
// Hand-written rather than prometheus-cpp: Debian 12's prometheus-cpp-dev
// (1.0.1) serves through its own civetweb thread pool and pulls in
// libcurl-dev for the push gateway, while the worker already has an Asio
// loop; the format is a few dozen lines. A metric handle is a stable
// reference: callers look it up once and then only touch atomics, so the
// delivery path pays one relaxed add per event.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace intentlog::metrics {

// Label pairs in the order they are rendered.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);  // ascending upper bounds, +Inf implied
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound (the last is +Inf, equal to count()).
  std::vector<std::uint64_t> cumulative() const;
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // non-cumulative, bounds_.size() + 1
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Buckets for latencies in seconds (1 ms to 60 s) and for row counts.
std::vector<double> latency_buckets();
std::vector<double> count_buckets();

class Registry {
 public:
  // Get-or-create. The reference stays valid for the registry's lifetime.
  // A name is one type: asking for it as another throws std::logic_error.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const Labels& labels,
                       const std::vector<double>& bounds);

  // A gauge family computed at scrape time (process RSS, connected
  // consumers, per-partition state): `fill` appends (labels, value) pairs.
  using Samples = std::vector<std::pair<Labels, double>>;
  void collect(const std::string& name, const std::string& help, std::function<void(Samples&)> fill);

  // The text exposition format, families sorted by name.
  std::string render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram, kCollected };
  struct Family {
    Type type;
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
    std::function<void(Samples&)> fill;
  };
  Family& family(const std::string& name, const std::string& help, Type type);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

// The process's resident set size in bytes (/proc/self/statm), 0 if unknown.
double resident_memory_bytes();

// process_resident_memory_bytes, process_start_time_seconds and
// intentlog_worker_info{worker_id}.
void register_process(Registry& registry, const std::string& worker_id);

// Exposition helpers, exposed for tests.
std::string escape_label_value(const std::string& v);
std::string format_value(double v);

}  // namespace intentlog::metrics
