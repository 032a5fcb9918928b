#include "worker/net/session_sink.h"

namespace intentlog {

void SessionSink::assigned(const v1::Assignment& assignment) {
  v1::ServerFrame f;
  *f.mutable_assignment() = assignment;
  session_->send(f);
}

void SessionSink::deliver(v1::Batch batch) {
  v1::ServerFrame f;
  f.mutable_batch()->Swap(&batch);
  session_->send(f);
}

void SessionSink::gap(const v1::Gap& gap) {
  v1::ServerFrame f;
  *f.mutable_gap() = gap;
  session_->send(f);
}

JoinRequest join_request(const v1::Hello& hello) {
  JoinRequest r;
  r.group = hello.group();
  r.domains.assign(hello.domains().begin(), hello.domains().end());
  r.start = hello.start();
  r.positions.assign(hello.positions().begin(), hello.positions().end());
  return r;
}

}  // namespace intentlog
