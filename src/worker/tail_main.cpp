// intentlog-tail: a consumer on the command line. Connects to an
// intentlog-worker, joins a consumer group, prints every event it receives
// (one per line) and acknowledges it once printed. The protocol is the
// client library's (client/consumer.h); this file is options and printing.
#include <asio.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "client/consumer.h"
#include "client/schema_cache.h"
#include "common/endpoint.h"
#include "intentlog/v1/stream.pb.h"
#include "worker/event_format.h"

using namespace intentlog;

namespace {

const char* kUsage = R"(intentlog-tail: print the events of intentlog domains, one per line.

usage: intentlog-tail --group G --domain D [--domain D2 ...] [options]

  --connect ENDPOINT   unix:PATH or tcp:HOST:PORT (default: unix:/tmp/intentlog.sock)
  --group G            consumer group; its consumers share the partitions
  --domain D           domain to read, repeatable
  --from WHERE         committed (default), earliest or latest
  --format F           json (default): the Event fields, payload in base64 and, when the domain
                       has a registered schema, decoded as "payload_json"; or text
  --limit N            exit 0 after printing N events
  --no-ack             print without acknowledging (the events stay in flight)
  --token-file FILE    token for a tcp: worker
  --credit N           events the worker may send ahead of printing (default: 1000)
  --idle-exit-ms N     exit 0 once no event arrived for N ms
  --slow-ms N          wait N ms per event before acknowledging (to try out a slow consumer)
  --fail-first N       nack each event's first N deliveries instead of printing it (to try out
                       redelivery: the worker sends it again later, its key waits meanwhile)
  --fail-key KEY       nack every delivery of KEY, repeatable (a poison key: it ends in the dead
                       letters after the domain's max_attempts; other keys stream on)
  --fail-limit N       nack at most N deliveries in all (of --fail-first and --fail-key), then
                       accept everything (a key that recovers after its first intent died)
  --client-name NAME   shown in the worker's logs
  --help               this text

A Gap frame (a staged domain lost intents in a server crash) prints as a line
{"gap": {...}} in json format. Exit status: 0 done, 1 worker error or lost
connection, 2 bad command line.
)";

struct Options {
  Endpoint connect{Endpoint::Kind::kUnix, kDefaultSocketPath, "", 0};
  std::string group;
  std::vector<std::string> domains;
  v1::Start start = v1::START_COMMITTED;
  bool json = true;
  std::uint64_t limit = 0;
  bool ack = true;
  std::string token;
  std::uint32_t credit = 1000;
  long idle_exit_ms = 0;
  long slow_ms = 0;
  std::uint32_t fail_first = 0;
  std::set<std::string> fail_keys;
  std::optional<std::uint64_t> fail_limit;  // nothing: no limit
  std::string client_name = "intentlog-tail";
};

bool parse(int argc, char** argv, Options* o, std::string* error, bool* help) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      *help = true;
      return false;
    }
    if (arg == "--no-ack") {
      o->ack = false;
      continue;
    }
    std::string value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      *error = "missing value for " + arg;
      return false;
    }
    auto number = [&](long long max) -> long long {
      char* end = nullptr;
      const long long v = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end || v < 0 || v > max) {
        *error = "invalid value for " + arg + ": " + value;
        return -1;
      }
      return v;
    };
    if (arg == "--connect") {
      auto e = parse_endpoint(value, error);
      if (!e) return false;
      o->connect = *e;
    } else if (arg == "--group") {
      o->group = value;
    } else if (arg == "--domain") {
      o->domains.push_back(value);
    } else if (arg == "--from") {
      if (value == "committed") {
        o->start = v1::START_COMMITTED;
      } else if (value == "earliest") {
        o->start = v1::START_EARLIEST;
      } else if (value == "latest") {
        o->start = v1::START_LATEST;
      } else {
        *error = "--from must be committed, earliest or latest";
        return false;
      }
    } else if (arg == "--format") {
      if (value != "json" && value != "text") {
        *error = "--format must be json or text";
        return false;
      }
      o->json = value == "json";
    } else if (arg == "--limit") {
      const long long v = number(1ll << 62);
      if (v < 0) return false;
      o->limit = static_cast<std::uint64_t>(v);
    } else if (arg == "--token-file") {
      std::ifstream in(value);
      if (!in) {
        *error = "cannot read token file " + value;
        return false;
      }
      std::stringstream ss;
      ss << in.rdbuf();
      o->token = ss.str();
      while (!o->token.empty() && (o->token.back() == '\n' || o->token.back() == '\r' || o->token.back() == ' '))
        o->token.pop_back();
    } else if (arg == "--credit") {
      const long long v = number(10000000);
      if (v < 1) {
        if (v == 0) *error = "--credit must be at least 1";
        return false;
      }
      o->credit = static_cast<std::uint32_t>(v);
    } else if (arg == "--idle-exit-ms") {
      if ((o->idle_exit_ms = static_cast<long>(number(86400000))) < 0) return false;
    } else if (arg == "--slow-ms") {
      if ((o->slow_ms = static_cast<long>(number(60000))) < 0) return false;
    } else if (arg == "--fail-first") {
      const long long v = number(1000);
      if (v < 0) return false;
      o->fail_first = static_cast<std::uint32_t>(v);
    } else if (arg == "--fail-key") {
      o->fail_keys.insert(value);
    } else if (arg == "--fail-limit") {
      const long long v = number(1ll << 62);
      if (v < 0) return false;
      o->fail_limit = static_cast<std::uint64_t>(v);
    } else if (arg == "--client-name") {
      o->client_name = value;
    } else {
      *error = "unknown option " + arg + " (see --help)";
      return false;
    }
  }
  if (o->group.empty() || o->domains.empty()) {
    *error = "--group and --domain are required (see --help)";
    return false;
  }
  return true;
}

class Tail {
 public:
  Tail(asio::io_context& io, const Options& o) : io_(io), o_(o), consumer_(io), idle_(io) {}

  int run() {
    std::string error;
    if (!consumer_.connect(o_.connect, &error)) {
      std::fprintf(stderr, "intentlog-tail: cannot connect to %s: %s\n", o_.connect.to_string().c_str(), error.c_str());
      return 1;
    }
    client::Consumer::Handlers h;
    h.welcome = [](const v1::Welcome& w) {
      std::fprintf(stderr, "intentlog-tail: connected to worker %s (session %llu)\n", w.worker_id().c_str(),
                   static_cast<unsigned long long>(w.session_id()));
    };
    h.batch = [this](const v1::Batch& b) {
      if (!request_schemas(b)) return;
      queued_.emplace_back(b);
      drain();
    };
    h.gap = [this](const v1::Gap& g) {
      queued_.emplace_back(g);
      drain();
    };
    h.schema = [this](const v1::Schema& sc) {
      std::string error;
      // A schema that cannot be had still unblocks its events: they print undecoded.
      if (!schemas_.add(sc, &error))
        std::fprintf(stderr, "intentlog-tail: no schema %d of %s: %s\n", sc.schema_version(), sc.domain().c_str(),
                     error.c_str());
      drain();
    };
    h.error = [this](const v1::Error& e) {
      std::fprintf(stderr, "intentlog-tail: worker error %s: %s\n", v1::ErrorCode_Name(e.code()).c_str(),
                   e.message().c_str());
      finish(1);
    };
    h.closed = [this](const std::string& reason) {
      std::fprintf(stderr, "intentlog-tail: %s\n", reason.c_str());
      finish(1);
    };
    consumer_.start(std::move(h));
    client::HelloOptions hello;
    hello.group = o_.group;
    hello.domains = o_.domains;
    hello.start = o_.start;
    hello.token = o_.token;
    hello.client_name = o_.client_name;
    outstanding_ = o_.limit ? static_cast<std::uint32_t>(std::min<std::uint64_t>(o_.credit, o_.limit)) : o_.credit;
    hello.initial_credit = outstanding_;
    if (!consumer_.hello(hello)) return 1;
    last_event_ = std::chrono::steady_clock::now();
    arm_idle();
    io_.run();
    return status_;
  }

 private:
  void finish(int status) {
    status_ = status;
    idle_.cancel();
    consumer_.close();
    io_.stop();
  }

  void arm_idle() {
    if (o_.idle_exit_ms <= 0) return;
    idle_.expires_after(std::chrono::milliseconds(100));
    idle_.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      if (std::chrono::steady_clock::now() - last_event_ > std::chrono::milliseconds(o_.idle_exit_ms)) {
        finish(0);
        return;
      }
      arm_idle();
    });
  }

  // Asks for the schemas the batch's payloads need. Only the JSON format
  // decodes payloads.
  bool request_schemas(const v1::Batch& b) {
    if (!o_.json) return true;
    for (const auto& [domain, version] : schemas_.to_request(b))
      if (!consumer_.request_schema(domain, version)) return false;
    return true;
  }

  // Batches whose payloads need a schema this tail has not seen wait (with
  // everything after them, to keep the order) until the Schema frames arrive.
  void drain() {
    while (!queued_.empty() && consumer_.open()) {
      auto* batch = std::get_if<v1::Batch>(&queued_.front());
      if (batch && o_.json && !schemas_.ready(*batch)) return;
      auto item = std::move(queued_.front());
      queued_.pop_front();
      if (batch) {
        on_batch(std::get<v1::Batch>(item));
      } else {
        const v1::Gap& g = std::get<v1::Gap>(item);
        const std::string line = o_.json ? gap_json(g) : gap_text(g);
        std::fprintf(stdout, "%s\n", line.c_str());
        std::fflush(stdout);
      }
    }
  }

  // The event's JSON line, with the payload decoded through its schema.
  std::string json_line(const v1::Event& e) const {
    std::string line = event_json(e);
    const PayloadCodec* codec = schemas_.codec(e);
    if (!codec) return line;
    std::string json, error;
    line.pop_back();  // the closing brace
    if (codec->to_json(e.payload(), &json, &error))
      line += ",\"payload_json\":" + json;
    else
      line += ",\"payload_error\":" + json_string(error);
    return line + "}";
  }

  void on_batch(const v1::Batch& b) {
    last_event_ = std::chrono::steady_clock::now();
    std::vector<v1::EventId> acks;
    std::string out;
    std::uint32_t printed = 0;
    for (const auto& e : b.events()) {
      if (o_.limit && printed_ >= o_.limit) break;
      const bool poison = !o_.fail_keys.empty() && o_.fail_keys.count(e.key());
      const bool within_limit = !o_.fail_limit || nacked_ < *o_.fail_limit;
      if ((e.attempt() <= o_.fail_first || poison) && within_limit) {
        ++nacked_;
        if (!consumer_.nack(client::Consumer::id_of(e),
                            poison ? "--fail-key" : "--fail-first " + std::to_string(o_.fail_first)))
          return;
        continue;
      }
      out += o_.json ? json_line(e) : event_text(e);
      out += '\n';
      ++printed_;
      ++printed;
      acks.push_back(client::Consumer::id_of(e));
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);  // printed before acknowledged: at-least-once to stdout
    if (o_.slow_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o_.slow_ms * printed));
    outstanding_ -= std::min(outstanding_, static_cast<std::uint32_t>(b.events_size()));
    if (o_.ack && printed > 0 && !consumer_.ack(acks)) return;
    if (o_.limit && printed_ >= o_.limit) {
      finish(0);
      return;
    }
    std::uint32_t grant = static_cast<std::uint32_t>(b.events_size());
    if (o_.limit)
      grant = static_cast<std::uint32_t>(std::min<std::uint64_t>(grant, o_.limit - printed_ - outstanding_));
    if (grant > 0) {
      outstanding_ += grant;
      consumer_.credit(grant);
    }
  }

  asio::io_context& io_;
  const Options& o_;
  client::Consumer consumer_;
  asio::steady_timer idle_;
  client::SchemaCache schemas_;
  std::deque<std::variant<v1::Batch, v1::Gap>> queued_;
  std::uint64_t printed_ = 0;
  std::uint64_t nacked_ = 0;
  std::uint32_t outstanding_ = 0;
  std::chrono::steady_clock::time_point last_event_;
  int status_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string error;
  bool help = false;
  if (!parse(argc, argv, &o, &error, &help)) {
    if (help) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "intentlog-tail: %s\n", error.c_str());
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io;
  Tail tail(io, o);
  return tail.run();
}
