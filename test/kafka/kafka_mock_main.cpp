// intentlog-kafka-mock: a Kafka cluster for tests and benchmarks, made of
// librdkafka's own mock brokers (rdkafka_mock.h, the Kafka protocol broker
// librdkafka's test suite uses, listening on 127.0.0.1). It runs in its own
// process so that a worker can be killed while the cluster and its topics
// live on.
//
// It prints "bootstrap=HOST:PORT,..." on stdout once the brokers listen,
// then reads one command a line from stdin or, with --control FIFO, from a
// named pipe that any shell can `echo` into; every command is answered on
// stdout with "ok <command>" or "error <command>: <reason>".
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <sys/stat.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

const char* kUsage = R"(usage: intentlog-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--control FIFO]

Starts N (default 3) mock Kafka brokers on 127.0.0.1, creates the topics
(replication factor min(3, N)), prints "bootstrap=..." and takes commands:

  topic NAME PARTITIONS [REPLICATION]   create a topic
  down BROKER | up BROKER               broker 1..N (or -1: all) refuses connections / accepts again
  rtt BROKER MS                         delay every response of a broker
  leader TOPIC PARTITION BROKER         move a partition's leadership
  errors API ERR[,ERR...]               the next requests of API (produce, metadata, or a number)
                                        fail with these errors, e.g. NOT_LEADER_FOR_PARTITION,REQUEST_TIMED_OUT
  broker-errors BROKER API ERR[,ERR...] the same, on one broker only
  clear API                             forget pushed errors of API
  quit

Commands come from stdin, or from FIFO with --control (created if missing,
reopened after each writer closes it).
)";

// Error names as rd_kafka_err2name spells them, without the RD_KAFKA_RESP_ERR_ prefix.
bool error_by_name(const std::string& name, rd_kafka_resp_err_t* out) {
  const struct rd_kafka_err_desc* descs = nullptr;
  size_t n = 0;
  rd_kafka_get_err_descs(&descs, &n);
  for (size_t i = 0; i < n; ++i) {
    if (descs[i].name && name == descs[i].name) {
      *out = descs[i].code;
      return true;
    }
  }
  return false;
}

bool api_by_name(const std::string& s, int16_t* out) {
  if (s == "produce")
    *out = 0;
  else if (s == "fetch")
    *out = 1;
  else if (s == "metadata")
    *out = 3;
  else if (s == "initproducerid")
    *out = 22;
  else {
    try {
      *out = static_cast<int16_t>(std::stoi(s));
    } catch (const std::exception&) {
      return false;
    }
  }
  return true;
}

bool parse_errors(const std::string& list, std::vector<rd_kafka_resp_err_t>* out, std::string* why) {
  std::stringstream ss(list);
  std::string name;
  while (std::getline(ss, name, ',')) {
    rd_kafka_resp_err_t e;
    if (!error_by_name(name, &e)) {
      *why = "unknown error name " + name;
      return false;
    }
    out->push_back(e);
  }
  if (out->empty()) *why = "no errors given";
  return !out->empty();
}

class MockCluster {
 public:
  explicit MockCluster(int brokers) : brokers_(brokers) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    // The handle only hosts the cluster; it never needs a real bootstrap.
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk_) throw std::runtime_error(std::string("rd_kafka_new: ") + err);
    mc_ = rd_kafka_mock_cluster_new(rk_, brokers);
    if (!mc_) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(mc_);
    rd_kafka_destroy(rk_);
  }
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(mc_); }
  int default_replication() const { return brokers_ < 3 ? brokers_ : 3; }

  // Runs one command line; returns an empty string or why it failed.
  std::string run(const std::string& line, bool* quit) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (cmd == "quit") {
      *quit = true;
    } else if (cmd == "topic") {
      std::string name;
      int parts = 0, rf = default_replication();
      if (!(in >> name >> parts) || parts <= 0) return "usage: topic NAME PARTITIONS [REPLICATION]";
      in >> rf;
      err = rd_kafka_mock_topic_create(mc_, name.c_str(), parts, rf);
    } else if (cmd == "down" || cmd == "up") {
      int b = 0;
      if (!(in >> b)) return "usage: " + cmd + " BROKER";
      err = cmd == "down" ? rd_kafka_mock_broker_set_down(mc_, b) : rd_kafka_mock_broker_set_up(mc_, b);
    } else if (cmd == "rtt") {
      int b = 0, ms = 0;
      if (!(in >> b >> ms)) return "usage: rtt BROKER MS";
      err = rd_kafka_mock_broker_set_rtt(mc_, b, ms);
    } else if (cmd == "leader") {
      std::string topic;
      int p = 0, b = 0;
      if (!(in >> topic >> p >> b)) return "usage: leader TOPIC PARTITION BROKER";
      err = rd_kafka_mock_partition_set_leader(mc_, topic.c_str(), p, b);
    } else if (cmd == "errors" || cmd == "broker-errors") {
      int b = 0;
      std::string api, list, why;
      if (cmd == "broker-errors" && !(in >> b)) return "usage: broker-errors BROKER API ERR[,ERR...]";
      if (!(in >> api >> list)) return "usage: " + cmd + " API ERR[,ERR...]";
      int16_t key = 0;
      if (!api_by_name(api, &key)) return "unknown API " + api;
      std::vector<rd_kafka_resp_err_t> errs;
      if (!parse_errors(list, &errs, &why)) return why;
      if (cmd == "errors") {
        rd_kafka_mock_push_request_errors_array(mc_, key, errs.size(), errs.data());
      } else {
        for (rd_kafka_resp_err_t e : errs) {
          err = rd_kafka_mock_broker_push_request_error_rtts(mc_, b, key, 1, e, 0);
          if (err) break;
        }
      }
    } else if (cmd == "clear") {
      std::string api;
      int16_t key = 0;
      if (!(in >> api) || !api_by_name(api, &key)) return "usage: clear API";
      rd_kafka_mock_clear_request_errors(mc_, key);
    } else if (!cmd.empty()) {
      return "unknown command " + cmd;
    }
    return err ? rd_kafka_err2str(err) : "";
  }

 private:
  int brokers_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* mc_ = nullptr;
};

void answer(const std::string& line, const std::string& why) {
  if (line.find_first_not_of(" \t") == std::string::npos) return;
  if (why.empty())
    std::cout << "ok " << line << std::endl;
  else
    std::cout << "error " << line << ": " << why << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 3;
  std::vector<std::string> topics;
  std::string control;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_next = i + 1 < argc;
    if (a == "--brokers" && has_next)
      brokers = std::atoi(argv[++i]);
    else if (a == "--topic" && has_next)
      topics.emplace_back(argv[++i]);
    else if (a == "--control" && has_next)
      control = argv[++i];
    else if (a == "--help") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << kUsage;
      return 2;
    }
  }
  if (brokers < 1) {
    std::cerr << "intentlog-kafka-mock: --brokers must be at least 1\n";
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    MockCluster cluster(brokers);
    bool quit = false;
    for (const auto& t : topics) {
      const auto colon = t.rfind(':');
      const std::string cmd =
          "topic " + t.substr(0, colon) + " " + (colon == std::string::npos ? "1" : t.substr(colon + 1));
      const std::string why = cluster.run(cmd, &quit);
      if (!why.empty()) {
        std::cerr << "intentlog-kafka-mock: " << cmd << ": " << why << "\n";
        return 1;
      }
    }
    std::cout << "bootstrap=" << cluster.bootstraps() << std::endl;
    if (control.empty()) {
      std::string line;
      while (!quit && std::getline(std::cin, line)) answer(line, cluster.run(line, &quit));
      return 0;
    }
    if (mkfifo(control.c_str(), 0600) != 0 && errno != EEXIST) {
      std::cerr << "intentlog-kafka-mock: mkfifo " << control << ": " << std::strerror(errno) << "\n";
      return 1;
    }
    while (!quit) {
      std::ifstream fifo(control);  // blocks until a writer opens it
      std::string line;
      while (!quit && std::getline(fifo, line)) answer(line, cluster.run(line, &quit));
    }
  } catch (const std::exception& e) {
    std::cerr << "intentlog-kafka-mock: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
