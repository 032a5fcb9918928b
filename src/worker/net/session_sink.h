// SessionSink: a socket consumer (Session) as a Sink of the delivery seam.
// Its capacity is the consumer's credit, or 0 while the socket's send queue
// is above max_queued_bytes; what the worker hands it becomes frames
// (Welcome, Assignment, Batch, Gap, Error) on the connection. Its acks and
// nacks arrive as Ack/Nack frames and reach the Coordinator (the SinkHost)
// from the Session.
#pragma once

#include <memory>
#include <string>

#include "worker/delivery/sink.h"
#include "worker/net/session.h"

namespace intentlog {

class SessionSink : public Sink {
 public:
  explicit SessionSink(std::shared_ptr<Session> session) : session_(std::move(session)) {}

  std::uint64_t id() const override { return session_->id(); }
  std::uint32_t capacity() const override { return session_->writable() ? session_->credit() : 0; }
  void take_capacity(std::uint32_t n) override { session_->spend_credit(n); }
  void return_capacity(std::uint32_t n) override { session_->refund_credit(n); }
  void joined(const v1::Welcome& welcome) override { session_->welcome(welcome); }
  void assigned(const v1::Assignment& assignment) override;
  void deliver(v1::Batch batch) override;
  void gap(const v1::Gap& gap) override;
  void close(v1::ErrorCode code, const std::string& message) override { session_->fail(code, message); }

 private:
  std::shared_ptr<Session> session_;
};

// A Hello as a JoinRequest (Session::handle_hello checked its shape).
JoinRequest join_request(const v1::Hello& hello);

}  // namespace intentlog
