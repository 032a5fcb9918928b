#include "worker/metrics/registry.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace intentlog::metrics {
namespace {

void add_double(std::atomic<double>& a, double d) {
  double old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, old + d, std::memory_order_relaxed)) {
  }
}

const char* type_name(bool histogram, bool counter) { return histogram ? "histogram" : counter ? "counter" : "gauge"; }

void render_labels(std::string& out, const Labels& labels, const char* extra_key = nullptr,
                   const std::string& extra_value = {}) {
  if (labels.empty() && extra_key == nullptr) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  }
  if (extra_key != nullptr) {
    if (!first) out += ',';
    out += extra_key;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

void sample(std::string& out, const std::string& name, const Labels& labels, double v) {
  out += name;
  render_labels(out, labels);
  out += ' ';
  out += format_value(v);
  out += '\n';
}

// HELP text escapes only backslash and newline.
std::string escape_help(const std::string& h) {
  std::string out;
  for (char c : h) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

}  // namespace

void Gauge::add(double d) { add_double(v_, d); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  add_double(sum_, v);
}

std::vector<std::uint64_t> Histogram::cumulative() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    out[i] = acc;
  }
  return out;
}

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::vector<double> count_buckets() { return {0, 1, 5, 10, 50, 100, 250, 500, 1000, 5000}; }

Registry::Family& Registry::family(const std::string& name, const std::string& help, Type type) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.type = type;
    it->second.help = help;
  } else if (it->second.type != type) {
    throw std::logic_error("metric " + name + " registered with two types");
  }
  return it->second;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = family(name, help, Type::kCounter).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = family(name, help, Type::kGauge).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help, const Labels& labels,
                               const std::vector<double>& bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = family(name, help, Type::kHistogram).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return *slot;
}

void Registry::collect(const std::string& name, const std::string& help, std::function<void(Samples&)> fill) {
  std::lock_guard<std::mutex> lock(mu_);
  family(name, help, Type::kCollected).fill = std::move(fill);
}

std::string Registry::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const bool histogram = f.type == Type::kHistogram;
    const bool counter = f.type == Type::kCounter;
    out += "# HELP " + name + ' ' + escape_help(f.help) + '\n';
    out += "# TYPE " + name + ' ' + type_name(histogram, counter) + '\n';
    switch (f.type) {
      case Type::kCounter:
        for (const auto& [labels, c] : f.counters) sample(out, name, labels, static_cast<double>(c->value()));
        break;
      case Type::kGauge:
        for (const auto& [labels, g] : f.gauges) sample(out, name, labels, g->value());
        break;
      case Type::kCollected: {
        Samples samples;
        if (f.fill) f.fill(samples);
        for (const auto& [labels, v] : samples) sample(out, name, labels, v);
        break;
      }
      case Type::kHistogram:
        for (const auto& [labels, h] : f.histograms) {
          const auto cum = h->cumulative();
          for (std::size_t i = 0; i < cum.size(); ++i) {
            out += name + "_bucket";
            render_labels(out, labels, "le", i < h->bounds().size() ? format_value(h->bounds()[i]) : "+Inf");
            out += ' ' + format_value(static_cast<double>(cum[i])) + '\n';
          }
          sample(out, name + "_sum", labels, h->sum());
          sample(out, name + "_count", labels, static_cast<double>(cum.back()));
        }
        break;
    }
  }
  return out;
}

double resident_memory_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void register_process(Registry& registry, const std::string& worker_id) {
  registry.collect("process_resident_memory_bytes", "Resident memory size in bytes.", [](Registry::Samples& s) {
    s.push_back({{}, resident_memory_bytes()});
  });
  registry.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.")
      .set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  registry.gauge("intentlog_worker_info", "The worker's id (value 1).", {{"worker_id", worker_id}}).set(1);
}

}  // namespace intentlog::metrics
