#include "worker/net/session.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/frame_writer.h"
#include "common/validation.h"
#include "worker/coordinator.h"
#include "worker/log_fields.h"
#include "worker/net/access.h"
#include "worker/net/peer_guard.h"

namespace intentlog {
namespace {

constexpr auto kCloseGrace = std::chrono::seconds(2);  // to flush an Error frame to a slow peer
constexpr std::size_t kMaxDomainsPerHello = 256;

google::protobuf::Timestamp now_timestamp() {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  google::protobuf::Timestamp t;
  t.set_seconds(us / 1000000);
  t.set_nanos(static_cast<int>(us % 1000000) * 1000);
  return t;
}

}  // namespace

Session::Session(Socket socket, std::uint64_t id, bool needs_token, std::string peer, std::string peer_key,
                 const WorkerConfig& cfg, Coordinator& coordinator, PeerGuard& guard, Access& access,
                 asio::ssl::context* tls)
    : socket_(std::move(socket)),
      id_(id),
      needs_token_(needs_token),
      peer_(std::move(peer)),
      peer_key_(std::move(peer_key)),
      cfg_(cfg),
      coordinator_(coordinator),
      guard_(guard),
      access_(access),
      reader_(cfg.max_frame_bytes),
      tick_(socket_.get_executor()) {
  if (tls) {
    tls_ = std::make_unique<asio::ssl::stream<Socket&>>(socket_, *tls);
  } else {
    handshaken_ = true;
  }
}

void Session::start() {
  started_at_ = last_rx_ = last_heartbeat_ = Clock::now();
  // Logged at info once the Hello is accepted: a peer that only opens
  // connections must not be able to fill the log.
  spdlog::debug("event=connection_open session={} peer={}", id_, q(peer_));
  arm_tick();
  if (handshaken_) {
    read();
  } else {
    handshake();
  }
}

// Bounded in time by the Hello deadline (on_tick). Plain text, a wrong or
// missing client certificate, an old protocol version: a clean close.
void Session::handshake() {
  tls_->async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](const asio::error_code& ec) {
    if (self->closed_) return;
    if (ec) {
      std::uint64_t suppressed = 0;
      if (self->guard_.may_log(self->peer_key_, Clock::now(), &suppressed)) {
        spdlog::warn("event=tls_handshake_failed session={} peer={} error={} not_logged_before={}", self->id_,
                     q(self->peer_), q(ec.message()), suppressed);
      }
      self->close_now();
      return;
    }
    self->handshaken_ = true;
    self->read();
  });
}

void Session::read() {
  with_stream([this](auto& stream) {
    stream.async_read_some(asio::buffer(rbuf_), [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
      self->on_read(ec, n);
    });
  });
}

void Session::on_read(const asio::error_code& ec, std::size_t n) {
  if (closed_ || closing_) return;
  if (ec) {
    log_closed(ec == asio::error::eof ? "eof" : ec.message());
    close_now();
    return;
  }
  last_rx_ = Clock::now();
  reader_.feed(rbuf_.data(), n);
  for (;;) {
    v1::ClientFrame frame;
    const FrameReader::Status st = reader_.next(&frame);
    if (st == FrameReader::Status::kNeedMore) break;
    if (st == FrameReader::Status::kFrame) {
      handle(frame);
      if (closing_ || closed_) return;
      continue;
    }
    if (st == FrameReader::Status::kTooLarge) {
      fail(v1::ERROR_FRAME_TOO_LARGE, "frame of " + std::to_string(reader_.announced_length()) +
                                          " bytes exceeds max_frame_bytes " + std::to_string(cfg_.max_frame_bytes));
    } else {
      fail(v1::ERROR_BAD_FRAME, describe(st));
    }
    return;
  }
  read();
}

void Session::handle(const v1::ClientFrame& frame) {
  using F = v1::ClientFrame;
  if (state_ == State::kAwaitHello && frame.frame_case() != F::kHello) {
    fail(v1::ERROR_PROTOCOL, "the first frame must be Hello");
    return;
  }
  switch (frame.frame_case()) {
    case F::kHello:
      if (state_ != State::kAwaitHello) {
        fail(v1::ERROR_PROTOCOL, "Hello sent twice");
        return;
      }
      handle_hello(frame.hello());
      return;
    case F::kCredit:
      if (add_credit(frame.credit().events()) && state_ == State::kJoined) coordinator_.on_credit(id_);
      return;
    case F::kAck:
      if (state_ == State::kJoined) coordinator_.on_ack(id_, frame.ack());
      return;
    case F::kNack:
      if (state_ == State::kJoined) coordinator_.on_nack(id_, frame.nack());
      return;
    case F::kHeartbeat:
      return;  // last_rx_ is all it is for
    case F::kSchemaRequest:
      if (state_ == State::kJoined) coordinator_.on_schema_request(shared_from_this(), frame.schema_request());
      return;
    case F::FRAME_NOT_SET:
      fail(v1::ERROR_PROTOCOL, "empty or unknown frame");
      return;
  }
}

void Session::handle_hello(const v1::Hello& h) {
  if (h.protocol_version() > 1) {
    fail(v1::ERROR_UNSUPPORTED_VERSION,
         "protocol_version " + std::to_string(h.protocol_version()) + " not supported (this worker speaks 1)");
    return;
  }
  if (needs_token_ && !authenticate(h)) return;
  if (check_group_name(h.group())) {
    fail(v1::ERROR_PROTOCOL, "group must be 1..128 bytes of [A-Za-z0-9_.:-]");
    return;
  }
  if (h.domains().empty() || static_cast<std::size_t>(h.domains_size()) > kMaxDomainsPerHello) {
    fail(v1::ERROR_PROTOCOL, "Hello must name 1.." + std::to_string(kMaxDomainsPerHello) + " domains");
    return;
  }
  for (int i = 0; i < h.domains_size(); ++i) {
    if (check_domain_name(h.domains(i))) {
      fail(v1::ERROR_UNKNOWN_DOMAIN, "invalid domain name " + q(h.domains(i)));
      return;
    }
    for (int j = 0; j < i; ++j) {
      if (h.domains(j) == h.domains(i)) {
        fail(v1::ERROR_PROTOCOL, "domain " + h.domains(i) + " named twice");
        return;
      }
    }
  }
  if (!v1::Start_IsValid(h.start())) {
    fail(v1::ERROR_PROTOCOL, "unknown start " + std::to_string(h.start()));
    return;
  }
  if (!h.positions().empty() && h.start() != v1::START_POSITION) {
    fail(v1::ERROR_PROTOCOL, "positions given without START_POSITION");
    return;
  }
  const std::vector<std::string> domains(h.domains().begin(), h.domains().end());
  if (std::string why = access_.denied(consumer_, h.group(), domains); !why.empty()) {
    fail(v1::ERROR_PERMISSION_DENIED, why);
    return;
  }
  if (!add_credit(h.initial_credit())) return;
  state_ = State::kJoining;
  settle();
  if (!consumer_.empty()) access_.joined(id_, consumer_, h.group(), domains, weak_from_this());
  spdlog::info("event=session_open session={} peer={}", id_, q(peer_));
  spdlog::info("event=hello session={} group={} domains={} start={} client={} consumer={}", id_, q(h.group()),
               h.domains_size(), v1::Start_Name(h.start()), q(h.client_name()), q(consumer_));
  coordinator_.on_hello(shared_from_this(), h);
}

// A failed authentication is logged once per burst per peer (PeerGuard), never
// with the token; a peer over its budget is refused without a look at its token.
bool Session::authenticate(const v1::Hello& h) {
  const auto now = Clock::now();
  const bool throttled = !guard_.may_authenticate(peer_key_, now);
  if (!throttled) {
    if (auto who = access_.identify(h.token())) {
      consumer_ = std::move(*who);
      return true;
    }
  }
  std::uint64_t suppressed = 0;
  if (guard_.failed(peer_key_, now, &suppressed)) {
    spdlog::warn("event=auth_failed session={} peer={} throttled={} not_logged_before={}", id_, q(peer_),
                 throttled ? "true" : "false", suppressed);
  }
  closing_ = true;
  closing_since_ = now;
  send_error(v1::ERROR_UNAUTHENTICATED,
             throttled ? "too many failed authentications from this peer; try again later" : "missing or wrong token");
  return false;
}

bool Session::add_credit(std::uint32_t n) {
  if (static_cast<std::uint64_t>(credit_) + n > cfg_.max_credit) {
    fail(v1::ERROR_CREDIT_LIMIT, "outstanding credit would be " + std::to_string(std::uint64_t{credit_} + n) +
                                     ", above max_credit " + std::to_string(cfg_.max_credit));
    return false;
  }
  credit_ += n;
  return true;
}

void Session::welcome(const v1::Welcome& w) {
  if (closing_ || closed_) return;
  state_ = State::kJoined;
  v1::ServerFrame f;
  *f.mutable_welcome() = w;
  send(f);
}

void Session::send(const v1::ServerFrame& frame) {
  if (closed_) return;
  std::string buf;
  if (!append_frame(frame, &buf)) {
    spdlog::error("event=frame_too_large session={} bytes={}", id_, frame.ByteSizeLong());
    return;
  }
  queued_bytes_ += buf.size();
  queued_.push_back(std::move(buf));
  if (writing_.empty()) flush();
}

// Hands every queued frame to the socket in one gathered write.
void Session::flush() {
  if (closed_ || !writing_.empty()) return;
  if (queued_.empty()) {
    if (closing_) close_now();
    return;
  }
  std::vector<asio::const_buffer> bufs;
  while (!queued_.empty()) {
    writing_.push_back(std::move(queued_.front()));
    queued_.pop_front();
  }
  for (const auto& b : writing_) bufs.push_back(asio::buffer(b));
  with_stream([&](auto& stream) {
    asio::async_write(stream, bufs, [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
      self->queued_bytes_ -= n;
      self->writing_.clear();
      if (ec) {
        if (!self->closed_) self->log_closed(ec.message());
        self->close_now();
        return;
      }
      self->flush();
      if (!self->closing_ && self->state_ == State::kJoined) self->coordinator_.on_writable(self->id_);
    });
  });
}

void Session::fail(v1::ErrorCode code, const std::string& message) {
  if (closing_ || closed_) return;
  std::uint64_t suppressed = 0;
  if (settled_ || guard_.may_log(peer_key_, Clock::now(), &suppressed)) {
    spdlog::warn("event=session_error session={} peer={} code={} error={}{}", id_, q(peer_), v1::ErrorCode_Name(code),
                 q(message), suppressed ? " not_logged_before=" + std::to_string(suppressed) : std::string());
  }
  closing_ = true;
  closing_since_ = Clock::now();
  if (!handshaken_) {  // no TLS yet to carry a frame (the handshake timed out)
    close_now();
    return;
  }
  send_error(code, message);
}

void Session::send_error(v1::ErrorCode code, const std::string& message) {
  leave();
  v1::ServerFrame f;
  f.mutable_error()->set_code(code);
  f.mutable_error()->set_message(message);
  send(f);
}

void Session::arm_tick() {
  const auto period = std::min<Clock::duration>(cfg_.heartbeat, std::chrono::milliseconds(500));
  tick_.expires_after(period);
  tick_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (!ec) self->on_tick();
  });
}

void Session::on_tick() {
  if (closed_) return;
  const auto now = Clock::now();
  if (closing_) {
    if (now - closing_since_ > kCloseGrace) {
      close_now();
      return;
    }
  } else if (state_ == State::kAwaitHello && now - started_at_ > cfg_.hello_timeout) {
    fail(v1::ERROR_IDLE_TIMEOUT, "no Hello within " + std::to_string(cfg_.hello_timeout.count()) + " ms");
  } else if (now - last_rx_ > cfg_.idle_timeout) {
    fail(v1::ERROR_IDLE_TIMEOUT, "nothing received for " + std::to_string(cfg_.idle_timeout.count()) + " ms");
  } else if (state_ == State::kJoined && now - last_heartbeat_ >= cfg_.heartbeat && writing_.empty()) {
    // Only to an idle socket: a peer that stops reading must not make the
    // queue grow by a heartbeat every period (and a frame still in the
    // socket says the worker is alive just as well).
    last_heartbeat_ = now;
    v1::ServerFrame f;
    *f.mutable_heartbeat()->mutable_sent_at() = now_timestamp();
    send(f);
  }
  arm_tick();
}

void Session::leave() {
  if (left_) return;
  left_ = true;
  if (state_ != State::kAwaitHello) coordinator_.on_closed(id_);
}

// Only sessions whose Hello was accepted are logged at info (see start()).
void Session::log_closed(const std::string& reason) const {
  spdlog::log(settled_ ? spdlog::level::info : spdlog::level::debug, "event=session_closed session={} reason={}", id_,
              q(reason));
}

void Session::settle() {
  if (settled_) return;
  settled_ = true;
  guard_.settled(peer_key_);
}

void Session::close_now() {
  if (closed_) return;
  closed_ = true;
  settle();
  if (!consumer_.empty()) access_.left(id_);
  leave();
  asio::error_code ignored;
  tick_.cancel();
  socket_.shutdown(asio::socket_base::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace intentlog
