// Writes the seed corpus of frame_fuzzer into a directory: valid frames of
// every ClientFrame and ServerFrame kind, whole conversations, and the edge
// cases of the length prefix and the body. Each file is one control byte (see
// frame_fuzzer.cpp) and a byte stream. The output is checked in under
// test/fuzz/corpus/; rerun after a wire change:
//   build/fuzz/test/fuzz/frame_fuzz_corpus test/fuzz/corpus
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "common/frame_writer.h"
#include "intentlog/v1/stream.pb.h"

namespace v1 = intentlog::v1;

namespace {

std::string dir;
int written = 0;

// control: max_frame_bytes choice (0..3) | cut << 2.
void write(const std::string& name, const std::string& stream, int max_choice = 3, int cut = 0) {
  const std::string path = dir + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    std::perror(path.c_str());
    std::exit(1);
  }
  const unsigned char control = static_cast<unsigned char>((max_choice & 3) | (cut << 2));
  std::fputc(control, f);
  std::fwrite(stream.data(), 1, stream.size(), f);
  std::fclose(f);
  ++written;
}

template <class Msg>
std::string frame(const Msg& m) {
  std::string out;
  intentlog::append_frame(m, &out);
  return out;
}

std::string raw_frame(const std::string& body) {
  std::string out;
  std::uint64_t n = body.size();
  do {
    unsigned char b = n & 0x7f;
    n >>= 7;
    if (n) b |= 0x80;
    out += static_cast<char>(b);
  } while (n);
  return out + body;
}

v1::ClientFrame hello() {
  v1::ClientFrame f;
  auto* h = f.mutable_hello();
  h->set_protocol_version(1);
  h->set_token("integration-test-token-0123456789");
  h->set_group("billing");
  h->add_domains("orders");
  h->add_domains("payments");
  h->set_start(v1::START_POSITION);
  auto* p = h->add_positions();
  p->set_domain("orders");
  p->set_partition(3);
  p->set_after_seq(41);
  h->set_client_name("intentlog-tail");
  h->set_initial_credit(1000);
  return f;
}

v1::ClientFrame credit(std::uint32_t n) {
  v1::ClientFrame f;
  f.mutable_credit()->set_events(n);
  return f;
}

v1::ClientFrame ack() {
  v1::ClientFrame f;
  for (int i = 0; i < 3; ++i) {
    auto* e = f.mutable_ack()->add_events();
    e->set_domain("orders");
    e->set_partition(i);
    e->set_seq(1000 + i);
  }
  return f;
}

v1::ClientFrame nack() {
  v1::ClientFrame f;
  auto* e = f.mutable_nack()->mutable_event();
  e->set_domain("orders");
  e->set_partition(2);
  e->set_seq(77);
  f.mutable_nack()->set_error("downstream timeout");
  return f;
}

v1::ClientFrame client_heartbeat() {
  v1::ClientFrame f;
  f.mutable_heartbeat()->mutable_sent_at()->set_seconds(1767225600);
  f.mutable_heartbeat()->mutable_sent_at()->set_nanos(123456000);
  return f;
}

void fill_event(v1::Event* e, int i, std::size_t payload_bytes) {
  e->set_domain("orders");
  e->set_partition(i % 4);
  e->set_seq(100 + i);
  e->set_key("order-" + std::to_string(i) + "-\xc3\xa9\t\"q\"");
  e->set_op("paid");
  e->set_payload(std::string(payload_bytes, static_cast<char>(0x08 + i)));
  e->set_schema_version(2);
  if (i % 2 == 0) e->set_expected_version(7 + i);
  e->set_headers_json(i % 2 ? "" : "{\"trace_id\": \"t-1\"}");
  e->mutable_appended_at()->set_seconds(1767225600 + i);
  e->mutable_appended_at()->set_nanos(999999000);
  e->set_attempt(1 + i % 3);
}

v1::ServerFrame welcome() {
  v1::ServerFrame f;
  auto* w = f.mutable_welcome();
  w->set_protocol_version(1);
  w->set_worker_id("host/unix:/tmp/intentlog.sock");
  w->set_session_id(42);
  w->set_max_frame_bytes(1u << 20);
  w->set_max_credit(100000);
  w->set_max_in_flight(256);
  w->set_heartbeat_interval_ms(5000);
  w->set_idle_timeout_ms(30000);
  auto* d = w->add_domains();
  d->set_name("orders");
  d->set_partitions(16);
  d->set_durability("durable");
  d = w->add_domains();
  d->set_name("cache");
  d->set_partitions(2);
  d->set_durability("staged");
  return f;
}

v1::ServerFrame batch(int events, std::size_t payload_bytes) {
  v1::ServerFrame f;
  for (int i = 0; i < events; ++i) fill_event(f.mutable_batch()->add_events(), i, payload_bytes);
  return f;
}

v1::ServerFrame gap() {
  v1::ServerFrame f;
  auto* g = f.mutable_gap();
  g->set_domain("cache");
  g->set_partition(1);
  g->set_first_seq(417);
  g->set_last_seq(1000627);
  g->set_gap_id(3);
  g->mutable_detected_at()->set_seconds(1767225600);
  return f;
}

v1::ServerFrame server_heartbeat() {
  v1::ServerFrame f;
  f.mutable_heartbeat()->mutable_sent_at()->set_seconds(1767225600);
  return f;
}

v1::ServerFrame error() {
  v1::ServerFrame f;
  f.mutable_error()->set_code(v1::ERROR_FRAME_TOO_LARGE);
  f.mutable_error()->set_message("frame of 1073741824 bytes exceeds max_frame_bytes 1048576");
  return f;
}

v1::ServerFrame assignment() {
  v1::ServerFrame f;
  for (int p = 0; p < 4; ++p) {
    auto* r = f.mutable_assignment()->add_partitions();
    r->set_domain("orders");
    r->set_partition(p);
  }
  return f;
}

// Map fields in a fixed order, so that rerunning writes the same files.
std::string deterministic(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

// A FileDescriptorSet of `file` and everything it imports, imports first
// (what `protoc --include_imports --descriptor_set_out` writes).
void add_file(const google::protobuf::FileDescriptor* file, google::protobuf::FileDescriptorSet* set,
              std::set<std::string>* seen) {
  if (!seen->insert(file->name()).second) return;
  for (int i = 0; i < file->dependency_count(); ++i) add_file(file->dependency(i), set, seen);
  file->CopyTo(set->add_file());
}

std::string descriptor_set(const google::protobuf::Descriptor* message) {
  google::protobuf::FileDescriptorSet set;
  std::set<std::string> seen;
  add_file(message->file(), &set, &seen);
  return set.SerializeAsString();
}

v1::ServerFrame schema(const std::string& domain, int version, const google::protobuf::Descriptor* message) {
  v1::ServerFrame f;
  auto* sc = f.mutable_schema();
  sc->set_domain(domain);
  sc->set_schema_version(version);
  sc->set_message(message->full_name());
  sc->set_descriptor_set(descriptor_set(message));
  return f;
}

v1::ClientFrame schema_request(const std::string& domain, int version) {
  v1::ClientFrame f;
  f.mutable_schema_request()->set_domain(domain);
  f.mutable_schema_request()->set_schema_version(version);
  return f;
}

// A Batch of events of `domain` at `version` whose payloads are `payloads`.
v1::ServerFrame batch_of(const std::string& domain, int version, const std::vector<std::string>& payloads) {
  v1::ServerFrame f;
  int i = 0;
  for (const auto& p : payloads) {
    v1::Event* e = f.mutable_batch()->add_events();
    fill_event(e, i++, 0);
    e->set_domain(domain);
    e->set_schema_version(version);
    e->set_payload(p);
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: frame_fuzz_corpus DIR\n");
    return 2;
  }
  dir = argv[1];
  google::protobuf::SetLogHandler(nullptr);

  // One valid frame of each kind.
  write("client_hello", frame(hello()));
  write("client_credit", frame(credit(500)));
  write("client_ack", frame(ack()));
  write("client_nack", frame(nack()));
  write("client_heartbeat", frame(client_heartbeat()));
  write("server_welcome", frame(welcome()));
  write("server_batch", frame(batch(3, 16)));
  write("server_batch_2byte_prefix", frame(batch(1, 300)));
  write("server_gap", frame(gap()));
  write("server_heartbeat", frame(server_heartbeat()));
  write("server_error", frame(error()));
  write("server_assignment", frame(assignment()));

  // Conversations, cut into pieces of various sizes.
  const std::string client =
      frame(hello()) + frame(credit(100)) + frame(ack()) + frame(nack()) + frame(client_heartbeat()) + frame(credit(3));
  const std::string server = frame(welcome()) + frame(assignment()) + frame(batch(5, 40)) + frame(server_heartbeat()) +
                             frame(gap()) + frame(batch(2, 200)) + frame(error());
  write("client_conversation_whole", client);
  write("client_conversation_bytewise", client, 3, 1);
  write("client_conversation_pieces", client, 3, 13);
  write("server_conversation_whole", server);
  write("server_conversation_pieces", server, 3, 40);
  write("server_conversation_small_limit", server, 1, 7);  // max 1024: the batch of 200-byte payloads is too large

  // Length prefix edge cases.
  write("empty_frame", std::string("\x00", 1));
  write("empty_frames_then_hello", std::string("\x00\x00\x00", 3) + frame(hello()));
  write("prefix_max_uint32", std::string("\xff\xff\xff\xff\x0f", 5));
  write("prefix_over_32bit", std::string("\xff\xff\xff\xff\x1f", 5));
  write("prefix_six_bytes", std::string("\x80\x80\x80\x80\x80\x01", 6));
  write("prefix_1gib", std::string("\x80\x80\x80\x80\x04", 5) + std::string(100, '\0'));
  write("prefix_non_minimal", std::string("\x82\x80\x00", 3) + std::string("\x12\x00", 2));
  write("prefix_incomplete", std::string("\x80", 1));
  write("frame_truncated", std::string("\x20\x0a\x02", 3));
  write("frame_at_limit_64", raw_frame(std::string(62, '\0').insert(0, "\x3a\x3e", 2)), 0);  // field 7, 62 bytes
  write("frame_over_limit_64", raw_frame(std::string(65, '\0')), 0);
  write("prefix_bytewise_too_large", std::string("\x81\x80\x04", 3) + std::string(10, 'x'), 2, 1);

  // Body edge cases.
  write("body_wire_type_7", raw_frame(std::string("\x0f\x00\x00\x00", 4)));
  write("body_http", std::string("GET / HTTP/1.1\r\nHost: worker\r\n\r\n"));
  v1::ClientFrame unknown = hello();
  unknown.mutable_hello()->set_group("g");
  std::string body = unknown.SerializeAsString() + std::string("\xa0\x06\x2a", 3);  // unknown field 100 = 42
  write("body_unknown_field", raw_frame(body));
  std::string groups;
  for (int i = 0; i < 200; ++i) groups += "\xa3\x06";  // field 100 start-group, nested 200 deep
  write("body_nested_groups", raw_frame(groups));
  write("body_oneof_twice", raw_frame(credit(1).SerializeAsString() + ack().SerializeAsString()));
  write("body_bad_utf8_group", raw_frame(std::string("\x0a\x05\x1a\x03\xff\xfe\xfd", 7)));
  v1::ServerFrame extreme = batch(4, 1);
  auto* evs = extreme.mutable_batch()->mutable_events();
  evs->Mutable(0)->mutable_appended_at()->set_seconds(std::numeric_limits<std::int64_t>::max());
  evs->Mutable(1)->mutable_appended_at()->set_seconds(std::numeric_limits<std::int64_t>::min());
  evs->Mutable(2)->mutable_appended_at()->set_nanos(-1);
  evs->Mutable(3)->mutable_appended_at()->set_seconds(67768036191676799LL);  // the last second gmtime_r accepts
  evs->Mutable(3)->set_key(std::string("\x00\x1f\x7f", 3));                  // NUL and controls
  write("server_batch_extreme_values", frame(extreme));
  // Invalid UTF-8 in a string field: proto3 parsing refuses the whole frame.
  v1::ServerFrame bad_utf8 = batch(1, 1);
  bad_utf8.mutable_batch()->mutable_events(0)->set_key(std::string("\xed\xa0\x80\xff", 4));
  write("server_batch_bad_utf8_key", frame(bad_utf8));
  v1::ServerFrame gap_extreme = gap();
  gap_extreme.mutable_gap()->mutable_detected_at()->set_seconds(std::numeric_limits<std::int64_t>::min());
  gap_extreme.mutable_gap()->set_first_seq(std::numeric_limits<std::int64_t>::min());
  write("server_gap_extreme_values", frame(gap_extreme));

  // Schemas: the tail decodes payloads through descriptor sets it receives.
  write("client_schema_request", frame(schema_request("orders", 2)));
  v1::ServerFrame state_event = batch(1, 0);
  auto* st = state_event.mutable_batch()->mutable_events(0)->mutable_state();
  st->set_version(9);
  st->set_json("{\"status\": \"paid\", \"total\": 12.5}");
  st->set_source(v1::STATE_SOURCE_STANDBY);
  st->set_reads(2);
  write("server_batch_with_state", frame(state_event));
  // intentlog.v1.Event as a payload schema: nested messages, a oneof, an
  // enum, optional, repeated-free scalars of every width, a Timestamp.
  v1::Event payload_event;
  fill_event(&payload_event, 2, 5);
  *payload_event.mutable_state() = st[0];
  google::protobuf::Struct payload_struct;
  (*payload_struct.mutable_fields())["a"].set_number_value(1.5);
  (*payload_struct.mutable_fields())["b"].mutable_list_value()->add_values()->set_string_value("x");
  (*payload_struct.mutable_fields())["c"].mutable_struct_value();
  write("server_schema_event", frame(schema("orders", 2, v1::Event::descriptor())) +
                                   frame(batch_of("orders", 2, {payload_event.SerializeAsString(), "\x08\x01"})));
  write("server_schema_struct", frame(schema("docs", 1, google::protobuf::Struct::descriptor())) +
                                    frame(batch_of("docs", 1, {deterministic(payload_struct)})));
  v1::ServerFrame schema_error;
  schema_error.mutable_schema()->set_domain("orders");
  schema_error.mutable_schema()->set_schema_version(3);
  schema_error.mutable_schema()->set_error("no schema version 3 of orders");
  write("server_schema_error", frame(schema_error) + frame(batch_of("orders", 3, {"\x0a\x01x"})));
  v1::ServerFrame schema_garbage = schema("orders", 4, v1::Event::descriptor());
  schema_garbage.mutable_schema()->set_descriptor_set("\x0a\x05\x0a\x03a.b");  // a file "a.b" with nothing
  write("server_schema_garbage", frame(schema_garbage) + frame(batch_of("orders", 4, {"\x08\x01"})));

  std::printf("wrote %d files to %s\n", written, dir.c_str());
  return 0;
}
