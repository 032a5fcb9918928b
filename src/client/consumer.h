// intentlog::client::Consumer: a consumer connection to an intentlog-worker
// (the wire protocol of proto/intentlog/v1/stream.proto, docs/DESIGN.md
// "Wire"): connect, Hello, credit, events, ack/nack, heartbeats, Gap notices
// and schema requests.
//
// It runs on the caller's asio::io_context: start() begins reading, and
// every frame the worker sends is handed to one of the Handlers, in order,
// on the thread that runs the io_context. Heartbeats from the worker are
// answered by the Consumer itself, so a connection stays alive while the
// caller reads. Frames are written synchronously (a consumer writes a few
// small frames per Batch); a failed write, a lost connection or a frame that
// cannot be read ends the connection and calls `closed` once with the reason.
//
// The worker sends a Batch only against credit: grant it with the Hello
// (HelloOptions::initial_credit) and with credit() as events are processed;
// ack() or nack() every event received (at-least-once: an event not acked
// before the connection ends is delivered again, to this group).
#pragma once

#include <array>
#include <asio.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/endpoint.h"
#include "common/frame_reader.h"
#include "intentlog/v1/stream.pb.h"

namespace intentlog::client {

struct HelloOptions {
  std::string group;
  std::vector<std::string> domains;
  v1::Start start = v1::START_COMMITTED;
  std::vector<v1::Position> positions;  // with START_POSITION
  std::string token;                    // required on tcp:
  std::string client_name;
  std::uint32_t initial_credit = 0;
};

class Consumer {
 public:
  struct Handlers {
    std::function<void(const v1::Welcome&)> welcome;
    std::function<void(const v1::Assignment&)> assignment;
    std::function<void(const v1::Batch&)> batch;
    std::function<void(const v1::Gap&)> gap;
    std::function<void(const v1::Schema&)> schema;
    // The worker's Error frame; the connection is then closed (no `closed` call).
    std::function<void(const v1::Error&)> error;
    // The connection ended other than by close() or an Error frame:
    // "connection lost: ...", "connection closed by the worker: ...",
    // "bad frame from the worker: ...".
    std::function<void(const std::string& reason)> closed;
  };

  explicit Consumer(asio::io_context& io, std::size_t max_frame_bytes = 128u << 20);
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Connects (Unix socket or TCP, with TCP_NODELAY); false and `*error` set otherwise.
  bool connect(const Endpoint& endpoint, std::string* error);
  // Begins reading; the handlers are called from the io_context.
  void start(Handlers handlers);
  // Closes the connection; no handler is called after it.
  void close();
  bool open() const { return open_; }

  // Frames to the worker; false once the connection is gone.
  bool hello(const HelloOptions& options);
  bool credit(std::uint32_t events);
  bool ack(const std::vector<v1::EventId>& events);
  bool ack(const v1::Event& event) { return ack(std::vector<v1::EventId>{id_of(event)}); }
  bool nack(const v1::EventId& event, const std::string& error);
  bool request_schema(const std::string& domain, int schema_version);
  bool heartbeat();
  // Any frame (the above are shorthands).
  bool send(const v1::ClientFrame& frame);

  static v1::EventId id_of(const v1::Event& event);

 private:
  void read();
  void dispatch(const v1::ServerFrame& frame);
  void lost(const std::string& reason);

  asio::io_context& io_;
  asio::generic::stream_protocol::socket socket_;
  FrameReader reader_;
  std::array<char, 64 * 1024> buf_;
  std::string wbuf_;
  Handlers handlers_;
  bool open_ = false;
};

}  // namespace intentlog::client
