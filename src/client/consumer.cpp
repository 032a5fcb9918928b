#include "client/consumer.h"

#include "common/frame_writer.h"

namespace intentlog::client {

Consumer::Consumer(asio::io_context& io, std::size_t max_frame_bytes)
    : io_(io), socket_(io), reader_(max_frame_bytes) {}

bool Consumer::connect(const Endpoint& endpoint, std::string* error) {
  asio::error_code ec;
  if (endpoint.kind == Endpoint::Kind::kUnix) {
    socket_.connect(asio::local::stream_protocol::endpoint(endpoint.path), ec);
  } else {
    asio::ip::tcp::resolver resolver(io_);
    auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
    if (!ec) {
      ec = asio::error::host_not_found;
      for (const auto& r : results) {
        socket_.close();
        socket_.connect(r.endpoint(), ec);
        if (!ec) break;
      }
    }
    if (!ec) socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  }
  if (ec) {
    *error = ec.message();
    return false;
  }
  open_ = true;
  return true;
}

void Consumer::start(Handlers handlers) {
  handlers_ = std::move(handlers);
  read();
}

void Consumer::close() {
  if (!open_) return;
  open_ = false;
  asio::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_both, ignored);
  socket_.close(ignored);
}

void Consumer::lost(const std::string& reason) {
  if (!open_) return;
  close();
  if (handlers_.closed) handlers_.closed(reason);
}

bool Consumer::send(const v1::ClientFrame& frame) {
  if (!open_) return false;
  wbuf_.clear();
  append_frame(frame, &wbuf_);
  asio::error_code ec;
  asio::write(socket_, asio::buffer(wbuf_), ec);
  if (ec) {
    lost("connection lost: " + ec.message());
    return false;
  }
  return true;
}

bool Consumer::hello(const HelloOptions& o) {
  v1::ClientFrame f;
  v1::Hello* h = f.mutable_hello();
  h->set_protocol_version(1);
  h->set_token(o.token);
  h->set_group(o.group);
  for (const auto& d : o.domains) h->add_domains(d);
  h->set_start(o.start);
  for (const auto& p : o.positions) *h->add_positions() = p;
  h->set_client_name(o.client_name);
  h->set_initial_credit(o.initial_credit);
  return send(f);
}

bool Consumer::credit(std::uint32_t events) {
  v1::ClientFrame f;
  f.mutable_credit()->set_events(events);
  return send(f);
}

bool Consumer::ack(const std::vector<v1::EventId>& events) {
  v1::ClientFrame f;
  for (const auto& e : events) *f.mutable_ack()->add_events() = e;
  return send(f);
}

bool Consumer::nack(const v1::EventId& event, const std::string& error) {
  v1::ClientFrame f;
  *f.mutable_nack()->mutable_event() = event;
  f.mutable_nack()->set_error(error);
  return send(f);
}

bool Consumer::request_schema(const std::string& domain, int schema_version) {
  v1::ClientFrame f;
  f.mutable_schema_request()->set_domain(domain);
  f.mutable_schema_request()->set_schema_version(schema_version);
  return send(f);
}

bool Consumer::heartbeat() {
  v1::ClientFrame f;
  f.mutable_heartbeat();
  return send(f);
}

v1::EventId Consumer::id_of(const v1::Event& e) {
  v1::EventId id;
  id.set_domain(e.domain());
  id.set_partition(e.partition());
  id.set_seq(e.seq());
  return id;
}

void Consumer::read() {
  socket_.async_read_some(asio::buffer(buf_), [this](const asio::error_code& ec, std::size_t n) {
    if (!open_) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) lost("connection closed by the worker: " + ec.message());
      return;
    }
    reader_.feed(buf_.data(), n);
    for (;;) {
      v1::ServerFrame f;
      const auto st = reader_.next(&f);
      if (st == FrameReader::Status::kNeedMore) break;
      if (st != FrameReader::Status::kFrame) {
        lost(std::string("bad frame from the worker: ") + describe(st));
        return;
      }
      dispatch(f);
      if (!open_) return;
    }
    read();
  });
}

void Consumer::dispatch(const v1::ServerFrame& f) {
  switch (f.frame_case()) {
    case v1::ServerFrame::kWelcome:
      if (handlers_.welcome) handlers_.welcome(f.welcome());
      return;
    case v1::ServerFrame::kAssignment:
      if (handlers_.assignment) handlers_.assignment(f.assignment());
      return;
    case v1::ServerFrame::kBatch:
      if (handlers_.batch) handlers_.batch(f.batch());
      return;
    case v1::ServerFrame::kGap:
      if (handlers_.gap) handlers_.gap(f.gap());
      return;
    case v1::ServerFrame::kSchema:
      if (handlers_.schema) handlers_.schema(f.schema());
      return;
    case v1::ServerFrame::kHeartbeat:
      heartbeat();
      return;
    case v1::ServerFrame::kError: {
      const v1::Error error = f.error();
      close();
      if (handlers_.error) handlers_.error(error);
      return;
    }
    default:
      return;  // frames newer than this client
  }
}

}  // namespace intentlog::client
