// libFuzzer target for the wire: FrameReader (src/common/frame_reader.h), the
// decoder of length-delimited Protobuf frames that the worker runs on every
// byte a consumer sends and intentlog-tail runs on every byte the worker
// sends; then what each side does with a decoded frame that parses.
//
// Input: one control byte, then the byte stream.
//   control & 3   the reader's max_frame_bytes: 64, 1024, 65536 or 1 MiB
//   control >> 2  how the stream is cut into feed() calls: 0 = in one piece,
//                 s > 0 = pseudo-random pieces of 1..2s bytes (seeded by s)
//
// Checked on every input (a failed check aborts, which libFuzzer reports):
//   - the stream cut in pieces decodes to exactly the frames, and ends in
//     exactly the status, of the stream fed whole (an incremental reader must
//     not depend on how reads split the bytes);
//   - no frame body exceeds max_frame_bytes; waiting for more bytes, the
//     reader holds less than one frame plus a length prefix; kTooLarge
//     reports an announced length above the limit;
//   - errors are sticky: once next() failed it fails the same way, and
//     feed() is ignored;
//   - next(MessageLite*) agrees with next(string_view*) + ParseFromArray;
//   - a body that parses as ClientFrame or ServerFrame survives
//     append_frame -> FrameReader -> parse -> serialize unchanged, and its
//     frame is frame_size() bytes;
//   - Hello domains go through check_domain_name (as Session does); Batch
//     events and Gap frames through intentlog-tail's JSON and text printers,
//     whose JSON line must stay one line;
//   - Schema frames go through ProtoSchema::parse as in intentlog-tail, and
//     the payloads of later Batch events of that (domain, schema_version)
//     through the resulting PayloadCodec (validate, to_json); JSON it
//     produced must be accepted back by from_json, into a payload that
//     validates, unless the descriptor set redefines a google.protobuf
//     type (libprotobuf's JSON code treats well-known types by name, so a
//     redefined google.protobuf.ListValue prints what it cannot parse).
// ASan and UBSan (see CMakeLists.txt, INTENTLOG_FUZZ) catch memory errors,
// leaks and undefined behaviour on the way.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/frame_reader.h"
#include "common/frame_writer.h"
#include "common/payload_codec.h"
#include "common/validation.h"
#include "intentlog/v1/stream.pb.h"
#include "worker/event_format.h"

using intentlog::FrameReader;
using Status = FrameReader::Status;

#define FUZZ_CHECK(cond)                                                                            \
  do {                                                                                              \
    if (!(cond)) {                                                                                  \
      std::fprintf(stderr, "frame_fuzzer: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                                 \
    }                                                                                               \
  } while (0)

namespace {

constexpr std::size_t kMaxFrames[] = {64, 1024, 65536, 1u << 20};
constexpr std::size_t kMaxBodiesChecked = 64;  // bounds the time per input

struct Outcome {
  std::vector<std::string> bodies;
  Status end = Status::kNeedMore;
  std::uint64_t announced = 0;
};

Outcome decode(const char* data, std::size_t n, std::size_t max_frame, unsigned cut) {
  FrameReader r(max_frame);
  Outcome o;
  std::uint32_t x = cut * 2654435761u + 1;
  std::size_t off = 0;
  for (;;) {
    std::size_t piece = n - off;
    if (cut > 0) {
      x = x * 1103515245u + 12345u;
      piece = std::min<std::size_t>(piece, 1 + (x >> 16) % (2 * cut));
    }
    if (piece > 0) r.feed(data + off, piece);
    off += piece;
    for (;;) {
      std::string_view body;
      const Status st = r.next(&body);
      if (st == Status::kFrame) {
        FUZZ_CHECK(body.size() <= max_frame);
        o.bodies.emplace_back(body);
        continue;
      }
      if (st == Status::kNeedMore) {
        FUZZ_CHECK(r.buffered() < max_frame + 5);
        break;
      }
      FUZZ_CHECK(st == Status::kTooLarge || st == Status::kBadLength);  // next(string_view*) never parses
      if (st == Status::kTooLarge) FUZZ_CHECK(r.announced_length() > max_frame);
      // Sticky: the same error again, and bytes fed afterwards are ignored.
      const std::size_t held = r.buffered();
      r.feed("\x01\x00", 2);
      FUZZ_CHECK(r.buffered() == held);
      FUZZ_CHECK(r.next(&body) == st);
      o.end = st;
      o.announced = r.announced_length();
      return o;
    }
    if (off >= n) return o;
  }
}

template <class Msg>
void round_trip(const Msg& m) {
  std::string wire;
  FUZZ_CHECK(intentlog::append_frame(m, &wire));
  const std::string body = m.SerializeAsString();
  FUZZ_CHECK(wire.size() == intentlog::frame_size(body.size()));
  FrameReader r(body.size());
  r.feed(wire.data(), wire.size());
  std::string_view got;
  FUZZ_CHECK(r.next(&got) == Status::kFrame);
  FUZZ_CHECK(got == body);
  FUZZ_CHECK(r.next(&got) == Status::kNeedMore);
  FUZZ_CHECK(r.buffered() == 0);
  Msg again;
  FUZZ_CHECK(again.ParseFromArray(body.data(), static_cast<int>(body.size())));
  FUZZ_CHECK(again.SerializeAsString() == body);
}

void worker_side(const intentlog::v1::ClientFrame& f) {
  round_trip(f);
  if (f.has_hello()) {
    for (const auto& d : f.hello().domains()) (void)intentlog::check_domain_name(d);
  }
}

// What intentlog-tail keeps between frames: a codec per (domain, schema
// version) it received a Schema frame for (nullptr: the schema did not build).
struct Codec {
  std::unique_ptr<intentlog::PayloadCodec> codec;
  bool canonical_wkt = true;  // every google.protobuf type in the set is the real one
};
using Codecs = std::map<std::pair<std::string, int>, Codec>;

// protoc --include_imports writes json_name on every field; CopyTo does not.
void strip_json_names(google::protobuf::DescriptorProto* m) {
  for (auto& f : *m->mutable_field()) f.clear_json_name();
  for (auto& n : *m->mutable_nested_type()) strip_json_names(&n);
}

// False when a message or enum named google.protobuf.* (however declared:
// any file name, package "google" with a nested message "protobuf", ...)
// differs from the real well-known type.
bool canonical_types(const std::string& prefix, const google::protobuf::DescriptorProto& m) {
  const std::string name = prefix + m.name();
  if (name.rfind("google.protobuf.", 0) == 0) {
    const auto* real = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(name);
    if (real == nullptr) return false;
    google::protobuf::DescriptorProto want;
    real->CopyTo(&want);
    google::protobuf::DescriptorProto got = m;
    strip_json_names(&got);
    return got.SerializeAsString() == want.SerializeAsString();  // nested types compared with it
  }
  for (const auto& e : m.enum_type()) {
    if ((name + "." + e.name()).rfind("google.protobuf.", 0) == 0) return false;
  }
  for (const auto& n : m.nested_type()) {
    if (!canonical_types(name + ".", n)) return false;
  }
  return true;
}

bool canonical_wkt(const std::string& descriptor_set) {
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromString(descriptor_set)) return false;
  for (const auto& f : set.file()) {
    const std::string prefix = f.package().empty() ? "" : f.package() + ".";
    for (const auto& m : f.message_type()) {
      if (!canonical_types(prefix, m)) return false;
    }
    for (const auto& e : f.enum_type()) {
      const std::string name = prefix + e.name();
      if (name.rfind("google.protobuf.", 0) != 0) continue;
      const auto* real = google::protobuf::DescriptorPool::generated_pool()->FindEnumTypeByName(name);
      if (real == nullptr) return false;
      google::protobuf::EnumDescriptorProto want;
      real->CopyTo(&want);
      if (e.SerializeAsString() != want.SerializeAsString()) return false;
    }
  }
  return true;
}

void decode_payload(const Codec& c, const std::string& payload) {
  const intentlog::PayloadCodec& codec = *c.codec;
  std::string error;
  (void)codec.validate(payload, &error);
  std::string json;
  if (!codec.to_json(payload, &json, &error) || !c.canonical_wkt) return;
  std::string again;
  if (!codec.from_json(json, &again, &error)) {
    std::fprintf(stderr, "frame_fuzzer: to_json gave %s\nwhich from_json refuses: %s\n", json.c_str(), error.c_str());
    FUZZ_CHECK(!"JSON from to_json is accepted by from_json");
  }
  if (!codec.validate(again, &error)) {
    std::fprintf(stderr, "frame_fuzzer: from_json(%s) does not validate: %s\n", json.c_str(), error.c_str());
    FUZZ_CHECK(!"from_json output validates");
  }
}

void tail_side(const intentlog::v1::ServerFrame& f, Codecs* codecs) {
  round_trip(f);
  if (f.has_schema()) {
    const auto& sc = f.schema();
    std::string error;
    std::unique_ptr<intentlog::ProtoSchema> schema;
    if (sc.error().empty()) schema = intentlog::ProtoSchema::parse(sc.descriptor_set(), sc.message(), &error);
    Codec& c = (*codecs)[{sc.domain(), sc.schema_version()}];
    c.codec = schema ? std::make_unique<intentlog::PayloadCodec>(std::move(schema)) : nullptr;
    c.canonical_wkt = c.codec && canonical_wkt(sc.descriptor_set());
  }
  if (f.has_batch()) {
    for (const auto& e : f.batch().events()) {
      const std::string json = intentlog::event_json(e);
      const std::string text = intentlog::event_text(e);
      // headers_json and state.json are embedded as the worker sent them
      // (the database's json text, never multi-line); the rest is escaped.
      if (e.headers_json().find('\n') == std::string::npos && e.state().json().find('\n') == std::string::npos)
        FUZZ_CHECK(json.find('\n') == std::string::npos);
      FUZZ_CHECK(!text.empty());
      auto it = codecs->find({e.domain(), e.schema_version()});
      if (it != codecs->end() && it->second.codec && !e.payload().empty()) decode_payload(it->second, e.payload());
    }
  }
  if (f.has_gap()) {
    FUZZ_CHECK(intentlog::gap_json(f.gap()).find('\n') == std::string::npos);
    FUZZ_CHECK(!intentlog::gap_text(f.gap()).empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 in a string field is logged on every parse
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* input, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t max_frame = kMaxFrames[input[0] & 3];
  const unsigned cut = input[0] >> 2;
  const char* data = reinterpret_cast<const char*>(input + 1);
  const std::size_t n = size - 1;

  const Outcome whole = decode(data, n, max_frame, 0);
  if (cut > 0) {
    const Outcome pieces = decode(data, n, max_frame, cut);
    FUZZ_CHECK(pieces.bodies == whole.bodies);
    FUZZ_CHECK(pieces.end == whole.end);
    FUZZ_CHECK(pieces.announced == whole.announced);
  }

  // next(MessageLite*) on the same stream: frames while bodies parse, then
  // kBadMessage (sticky) at the first that does not.
  {
    FrameReader r(max_frame);
    r.feed(data, n);
    std::size_t i = 0;
    for (;; ++i) {
      intentlog::v1::ClientFrame f;
      const Status st = r.next(&f);
      if (i < whole.bodies.size()) {
        intentlog::v1::ClientFrame g;
        const bool parses = g.ParseFromArray(whole.bodies[i].data(), static_cast<int>(whole.bodies[i].size()));
        FUZZ_CHECK(st == (parses ? Status::kFrame : Status::kBadMessage));
        if (!parses) {
          FUZZ_CHECK(r.next(&f) == Status::kBadMessage);
          break;
        }
        continue;
      }
      FUZZ_CHECK(st == whole.end);
      break;
    }
  }

  const std::size_t checked = std::min(whole.bodies.size(), kMaxBodiesChecked);
  Codecs codecs;
  for (std::size_t i = 0; i < checked; ++i) {
    const std::string& b = whole.bodies[i];
    intentlog::v1::ClientFrame cf;
    if (cf.ParseFromArray(b.data(), static_cast<int>(b.size()))) worker_side(cf);
    intentlog::v1::ServerFrame sf;
    if (sf.ParseFromArray(b.data(), static_cast<int>(b.size()))) tail_side(sf, &codecs);
  }
  return 0;
}
