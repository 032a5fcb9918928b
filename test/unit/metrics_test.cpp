// The worker's metrics registry and its Prometheus text exposition.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "worker/metrics/http_listener.h"
#include "worker/metrics/registry.h"
#include "worker/worker_config.h"

using namespace intentlog::metrics;

TEST(Metrics, CounterAndGaugeRenderWithHelpTypeAndLabels) {
  Registry r;
  r.counter("intentlog_acked_total", "Events acknowledged.", {{"group", "g"}, {"partition", "3"}}).inc(2);
  r.counter("intentlog_acked_total", "Events acknowledged.", {{"group", "g"}, {"partition", "3"}}).inc();
  r.gauge("intentlog_in_flight", "Events in flight.").set(4);
  EXPECT_EQ(r.render(),
            "# HELP intentlog_acked_total Events acknowledged.\n"
            "# TYPE intentlog_acked_total counter\n"
            "intentlog_acked_total{group=\"g\",partition=\"3\"} 3\n"
            "# HELP intentlog_in_flight Events in flight.\n"
            "# TYPE intentlog_in_flight gauge\n"
            "intentlog_in_flight 4\n");
}

TEST(Metrics, SameNameAndLabelsIsTheSameHandle) {
  Registry r;
  Counter& a = r.counter("c_total", "h", {{"k", "v"}});
  Counter& b = r.counter("c_total", "h", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &r.counter("c_total", "h", {{"k", "w"}}));
  EXPECT_THROW(r.gauge("c_total", "h"), std::logic_error);
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  Histogram& h = r.histogram("fetch_rows", "Rows per fetch.", {{"domain", "d"}}, {1, 10});
  h.observe(0);
  h.observe(1);  // le is inclusive
  h.observe(7);
  h.observe(50);
  EXPECT_EQ(r.render(),
            "# HELP fetch_rows Rows per fetch.\n"
            "# TYPE fetch_rows histogram\n"
            "fetch_rows_bucket{domain=\"d\",le=\"1\"} 2\n"
            "fetch_rows_bucket{domain=\"d\",le=\"10\"} 3\n"
            "fetch_rows_bucket{domain=\"d\",le=\"+Inf\"} 4\n"
            "fetch_rows_sum{domain=\"d\"} 58\n"
            "fetch_rows_count{domain=\"d\"} 4\n");
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  Registry r;
  r.gauge("g", "a \\ b\nc", {{"key", "q\"uote\\back\nline"}}).set(1);
  EXPECT_EQ(r.render(),
            "# HELP g a \\\\ b\\nc\n"
            "# TYPE g gauge\n"
            "g{key=\"q\\\"uote\\\\back\\nline\"} 1\n");
}

TEST(Metrics, ValuesFormatAsPrometheusFloats) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1e20), "1e+20");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(Metrics, CollectedFamiliesAreComputedAtEachRender) {
  Registry r;
  int calls = 0;
  r.collect("intentlog_consumers_connected", "Consumer connections.", [&](Registry::Samples& s) {
    ++calls;
    s.push_back({{{"group", "a"}}, static_cast<double>(calls)});
  });
  r.render();
  EXPECT_NE(r.render().find("intentlog_consumers_connected{group=\"a\"} 2\n"), std::string::npos);
}

TEST(Metrics, ResidentMemoryIsPositive) { EXPECT_GT(resident_memory_bytes(), 0); }

TEST(Metrics, HttpServesMetricsAndRefusesTheRest) {
  Registry r;
  r.gauge("g", "h").set(1);
  const std::string ok = http_response("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", r);
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(ok.find("\r\n\r\n# HELP g h\n# TYPE g gauge\ng 1\n"), std::string::npos);
  EXPECT_EQ(http_response("GET /metrics?x=1 HTTP/1.0\r\n\r\n", r).rfind("HTTP/1.1 200", 0), 0u);
  const std::string head = http_response("HEAD /metrics HTTP/1.1\r\n\r\n", r);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
  EXPECT_EQ(http_response("GET / HTTP/1.1\r\n\r\n", r).rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(http_response("POST /metrics HTTP/1.1\r\n\r\n", r).rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_EQ(http_response("garbage\r\n\r\n", r).rfind("HTTP/1.1 400", 0), 0u);
}

TEST(Metrics, WorkerTakesAMetricsTcpEndpointOnly) {
  std::string err;
  bool help = false;
  {
    const char* argv[] = {"intentlog-worker", "--metrics", "tcp:127.0.0.1:9187"};
    auto c = intentlog::parse_worker_args(3, const_cast<char**>(argv), &err, &help);
    ASSERT_TRUE(c) << err;
    ASSERT_TRUE(c->metrics);
    EXPECT_EQ(c->metrics->port, 9187);
  }
  {
    const char* argv[] = {"intentlog-worker", "--metrics", "unix:/tmp/m.sock"};
    EXPECT_FALSE(intentlog::parse_worker_args(3, const_cast<char**>(argv), &err, &help));
    EXPECT_NE(err.find("tcp:HOST:PORT"), std::string::npos);
  }
  {
    const char* argv[] = {"intentlog-worker"};
    auto c = intentlog::parse_worker_args(1, const_cast<char**>(argv), &err, &help);
    ASSERT_TRUE(c);
    EXPECT_FALSE(c->metrics);
  }
}
