// Session: one consumer connection. Owns the socket, decodes ClientFrames
// with FrameReader, writes ServerFrames, enforces the per-connection limits
// (frame size, credit, Hello deadline, idle timeout, token on TCP) and hands
// everything about delivery to the Coordinator, which joins it to its group
// as a SessionSink (net/session_sink.h).
//
// A protocol violation gets one Error frame, then the connection is closed;
// the session leaves the Coordinator at once, so its in-flight events go back
// to their keys for redelivery. Nothing a peer sends can make the worker
// buffer more than one frame (max_frame_bytes) plus one read.
#pragma once

#include <array>
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/frame_reader.h"
#include "intentlog/v1/stream.pb.h"
#include "worker/worker_config.h"

namespace intentlog {

class Access;
class Coordinator;
class PeerGuard;

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Socket = asio::generic::stream_protocol::socket;
  using Clock = std::chrono::steady_clock;

  // `peer_key` is the PeerGuard's name of the peer, which already counted
  // this connection as unauthenticated (PeerGuard::open). With `tls`, the
  // connection starts with a TLS handshake (as the server); a peer that
  // fails it is closed without a frame.
  Session(Socket socket, std::uint64_t id, bool needs_token, std::string peer, std::string peer_key,
          const WorkerConfig& cfg, Coordinator& coordinator, PeerGuard& guard, Access& access, asio::ssl::context* tls);

  void start();

  // Called by the Coordinator and the SessionSink.
  void welcome(const v1::Welcome& w);
  void send(const v1::ServerFrame& frame);
  void fail(v1::ErrorCode code, const std::string& message);
  bool writable() const { return !closing_ && queued_bytes_ < cfg_.max_queued_bytes; }
  std::uint32_t credit() const { return credit_; }
  void spend_credit(std::uint32_t n) { credit_ -= n; }
  // Credit spent on an event that was never sent (its delivery failed first).
  void refund_credit(std::uint32_t n) { credit_ += n; }

  std::uint64_t id() const { return id_; }
  const std::string& peer() const { return peer_; }

 private:
  enum class State { kAwaitHello, kJoining, kJoined };

  void handshake();
  void read();
  // Calls f with the stream frames travel on: the TLS stream or the socket.
  template <class F>
  void with_stream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(socket_);
    }
  }
  void on_read(const asio::error_code& ec, std::size_t n);
  void handle(const v1::ClientFrame& frame);
  void handle_hello(const v1::Hello& hello);
  bool authenticate(const v1::Hello& hello);
  void send_error(v1::ErrorCode code, const std::string& message);
  void settle();
  void log_closed(const std::string& reason) const;
  bool add_credit(std::uint32_t n);
  void flush();
  void on_tick();
  void arm_tick();
  void leave();
  void close_now();

  Socket socket_;
  std::unique_ptr<asio::ssl::stream<Socket&>> tls_;  // over socket_; none: plain text
  bool handshaken_ = false;                          // TLS established (or no TLS)
  std::uint64_t id_;
  bool needs_token_;
  std::string peer_;
  std::string peer_key_;
  const WorkerConfig& cfg_;
  Coordinator& coordinator_;
  PeerGuard& guard_;
  Access& access_;
  std::string consumer_;  // of intentlog.consumers whose token the Hello had; empty: none or the shared token
  bool settled_ = false;  // no longer counted as unauthenticated by guard_

  State state_ = State::kAwaitHello;
  FrameReader reader_;
  std::array<char, 64 * 1024> rbuf_;
  std::deque<std::string> queued_;    // frames not yet handed to the socket
  std::vector<std::string> writing_;  // frames of the write in progress
  std::size_t queued_bytes_ = 0;      // both of the above
  bool closing_ = false;              // Error sent or being sent; no more reads
  bool closed_ = false;
  bool left_ = false;  // Coordinator told
  std::uint32_t credit_ = 0;
  asio::steady_timer tick_;
  Clock::time_point started_at_;
  Clock::time_point last_rx_;
  Clock::time_point last_heartbeat_;
  Clock::time_point closing_since_;
};

}  // namespace intentlog
