// Schema registry core: FileDescriptorSet parsing, the compatibility ladder
// per mode, the payload codec, and garbage that must never crash.
#include "common/schema_compat.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/timestamp.pb.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/payload_codec.h"

namespace intentlog {
namespace {

namespace pb = google::protobuf;

// A one-file FileDescriptorSet from the text form of a FileDescriptorProto
// (what `protoc --descriptor_set_out` would write for the same .proto).
std::string set_of(const std::vector<std::string>& files_text) {
  pb::FileDescriptorSet set;
  for (const auto& text : files_text) {
    pb::FileDescriptorProto* f = set.add_file();
    EXPECT_TRUE(pb::TextFormat::ParseFromString(text, f)) << text;
  }
  return set.SerializeAsString();
}

std::string field(const std::string& name, int number, const std::string& type, const std::string& label = "OPTIONAL",
                  const std::string& type_name = "", const std::string& extra = "") {
  std::string s = "field { name: '" + name + "' number: " + std::to_string(number) + " label: LABEL_" + label +
                  " type: TYPE_" + type;
  if (!type_name.empty()) s += " type_name: '" + type_name + "'";
  return s + " " + extra + " }";
}

// Order (proto3) with an enum, a nested message and `order_fields` as its body.
std::string order_file(const std::string& order_body, const std::string& item_body = "",
                       const std::string& status_values = "", const std::string& message_name = "Order") {
  std::string item = item_body.empty() ? field("sku", 1, "STRING") + field("qty", 2, "INT32") : item_body;
  std::string status = status_values.empty() ? "value { name: 'UNKNOWN' number: 0 } value { name: 'OPEN' number: 1 } "
                                               "value { name: 'CLOSED' number: 2 }"
                                             : status_values;
  return set_of(
      {"name: 'order.proto' package: 'shop' syntax: 'proto3' "
       "message_type { name: '" +
       message_name + "' " + order_body + " } message_type { name: 'Item' " + item + " } enum_type { name: 'Status' " +
       status + " }"});
}

const std::string kV1Body =
    field("id", 1, "STRING") + field("amount", 2, "INT64") + field("tags", 3, "STRING", "REPEATED") +
    field("status", 4, "ENUM", "OPTIONAL", ".shop.Status") + field("item", 5, "MESSAGE", "OPTIONAL", ".shop.Item");

std::unique_ptr<ProtoSchema> parse_ok(const std::string& set, const std::string& message = "shop.Order") {
  std::string error;
  auto s = ProtoSchema::parse(set, message, &error);
  EXPECT_NE(s, nullptr) << error;
  return s;
}

std::vector<std::string> check(const std::string& prev, const std::string& next, Compatibility mode,
                               const std::string& next_message = "shop.Order") {
  auto p = parse_ok(prev);
  auto n = parse_ok(next, next_message);
  if (p == nullptr || n == nullptr) return {"parse failed"};
  return check_compatibility(*p, *n, mode);
}

const Compatibility kModes[] = {Compatibility::kBackward, Compatibility::kForward, Compatibility::kFull};

bool mentions(const std::vector<std::string>& problems, const std::string& what) {
  for (const auto& p : problems)
    if (p.find(what) != std::string::npos) return true;
  return false;
}

TEST(SchemaCompat, ParsesModes) {
  Compatibility c;
  EXPECT_TRUE(parse_compatibility("backward", &c));
  EXPECT_EQ(c, Compatibility::kBackward);
  EXPECT_TRUE(parse_compatibility("full", &c));
  EXPECT_STREQ(compatibility_name(c), "full");
  EXPECT_FALSE(parse_compatibility("BACKWARD", &c));
  EXPECT_FALSE(parse_compatibility("", &c));
}

TEST(SchemaCompat, FindsMessage) {
  std::string v1 = order_file(kV1Body), error;
  EXPECT_NE(ProtoSchema::parse(v1, ".shop.Order", &error), nullptr);
  EXPECT_NE(ProtoSchema::parse(v1, "shop.Item", &error), nullptr);
  EXPECT_EQ(ProtoSchema::parse(v1, "shop.Missing", &error), nullptr);
  EXPECT_NE(error.find("shop.Missing"), std::string::npos);
  EXPECT_EQ(ProtoSchema::parse(v1, "shop.Status", &error), nullptr);  // an enum, not a message
  EXPECT_EQ(ProtoSchema::parse(v1, "", &error), nullptr);
}

TEST(SchemaCompat, RefusesBrokenSets) {
  std::string error;
  EXPECT_EQ(ProtoSchema::parse("", "shop.Order", &error), nullptr);
  EXPECT_EQ(ProtoSchema::parse("\xff\xff\xff", "shop.Order", &error), nullptr);
  // An import that is not in the set (protoc without --include_imports).
  std::string missing =
      set_of({"name: 'a.proto' package: 'shop' dependency: 'b.proto' syntax: 'proto3' "
              "message_type { name: 'Order' " +
              field("b", 1, "MESSAGE", "OPTIONAL", ".shop.B") + " }"});
  EXPECT_EQ(ProtoSchema::parse(missing, "shop.Order", &error), nullptr);
  EXPECT_NE(error.find("--include_imports"), std::string::npos) << error;
  // Dependencies listed after their importer still build.
  std::string ordered =
      set_of({"name: 'a.proto' package: 'shop' dependency: 'b.proto' syntax: 'proto3' "
              "message_type { name: 'Order' " +
                  field("b", 1, "MESSAGE", "OPTIONAL", ".shop.B") + " }",
              "name: 'b.proto' package: 'shop' syntax: 'proto3' message_type { name: 'B' }"});
  EXPECT_NE(ProtoSchema::parse(ordered, "shop.Order", &error), nullptr) << error;
  std::string cycle = set_of({"name: 'a.proto' dependency: 'b.proto'", "name: 'b.proto' dependency: 'a.proto'"});
  EXPECT_EQ(ProtoSchema::parse(cycle, "shop.Order", &error), nullptr);
  EXPECT_NE(error.find("cycle"), std::string::npos) << error;
  std::string twice = set_of({"name: 'a.proto'", "name: 'a.proto'"});
  EXPECT_EQ(ProtoSchema::parse(twice, "shop.Order", &error), nullptr);
  // Unresolvable type, duplicate field numbers: the pool's errors, not a crash.
  std::string bad_type = set_of({"name: 'a.proto' package: 'shop' message_type { name: 'Order' " +
                                 field("x", 1, "MESSAGE", "OPTIONAL", ".shop.Nope") + " }"});
  EXPECT_EQ(ProtoSchema::parse(bad_type, "shop.Order", &error), nullptr);
  EXPECT_NE(error.find("Nope"), std::string::npos) << error;
  std::string dup = set_of({"name: 'a.proto' package: 'shop' message_type { name: 'Order' " + field("x", 1, "INT32") +
                            field("y", 1, "INT32") + " }"});
  EXPECT_EQ(ProtoSchema::parse(dup, "shop.Order", &error), nullptr);
  std::string too_big(kMaxDescriptorSetBytes + 1, '\0');
  EXPECT_EQ(ProtoSchema::parse(too_big, "shop.Order", &error), nullptr);
  EXPECT_NE(error.find("limit"), std::string::npos);
}

// The ladder: each step from v1, and what each mode says about it.
TEST(SchemaCompat, IdenticalAndAddedFieldsAreCompatible) {
  std::string v1 = order_file(kV1Body);
  std::string v2 =
      order_file(kV1Body + field("note", 6, "STRING") + field("extras", 7, "MESSAGE", "REPEATED", ".shop.Item"));
  for (Compatibility m : kModes) {
    EXPECT_TRUE(check(v1, v1, m).empty());
    EXPECT_TRUE(check(v1, v2, m).empty()) << check(v1, v2, m)[0];
    EXPECT_FALSE(check(v2, v1, m).empty());  // removing them without reserving is not
  }
}

TEST(SchemaCompat, RemovedFieldMustBeReserved) {
  std::string v1 = order_file(kV1Body);
  std::string body_without_tags = field("id", 1, "STRING") + field("amount", 2, "INT64") +
                                  field("status", 4, "ENUM", "OPTIONAL", ".shop.Status") +
                                  field("item", 5, "MESSAGE", "OPTIONAL", ".shop.Item");
  std::string removed = order_file(body_without_tags);
  std::string reserved = order_file(body_without_tags + " reserved_range { start: 3 end: 4 } reserved_name: 'tags'");
  for (Compatibility m : kModes) {
    auto p = check(v1, removed, m);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_TRUE(mentions(p, "\"tags\" (3) of shop.Order was removed without reserving")) << p[0];
    EXPECT_TRUE(check(v1, reserved, m).empty());
  }
  EXPECT_TRUE(check(v1, removed, Compatibility::kNone).empty());

  // Reusing the reserved number later, with any type, is refused.
  std::string reused = order_file(body_without_tags + field("labels", 3, "INT32"));
  for (Compatibility m : kModes) EXPECT_TRUE(mentions(check(reserved, reused, m), "reuses number 3")) << int(m);
  EXPECT_TRUE(check(reserved, reused, Compatibility::kNone).empty());
}

TEST(SchemaCompat, TypeChangeNamesTheField) {
  std::string v1 = order_file(kV1Body);
  std::string body = field("id", 1, "STRING") + field("amount", 2, "STRING") + field("tags", 3, "STRING", "REPEATED") +
                     field("status", 4, "ENUM", "OPTIONAL", ".shop.Status") +
                     field("item", 5, "MESSAGE", "OPTIONAL", ".shop.Item");
  for (Compatibility m : kModes) {
    auto p = check(v1, order_file(body), m);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0], "field \"amount\" (2) of shop.Order changed type from int64 to string");
  }
  // Same checks inside nested messages.
  auto nested =
      check(v1, order_file(kV1Body, field("sku", 1, "STRING") + field("qty", 2, "DOUBLE")), Compatibility::kBackward);
  ASSERT_EQ(nested.size(), 1u);
  EXPECT_TRUE(mentions(nested, "\"qty\" (2) of shop.Item changed type from int32 to double"));
  // message -> scalar
  std::string msg_to_scalar = field("id", 1, "STRING") + field("amount", 2, "INT64") +
                              field("tags", 3, "STRING", "REPEATED") +
                              field("status", 4, "ENUM", "OPTIONAL", ".shop.Status") + field("item", 5, "BYTES");
  EXPECT_TRUE(mentions(check(v1, order_file(msg_to_scalar), Compatibility::kFull),
                       "\"item\" (5) of shop.Order changed type from message shop.Item to bytes"));
}

TEST(SchemaCompat, CardinalityChange) {
  std::string v1 = order_file(kV1Body);
  std::string body = field("id", 1, "STRING") + field("amount", 2, "INT64") + field("tags", 3, "STRING") +
                     field("status", 4, "ENUM", "OPTIONAL", ".shop.Status") +
                     field("item", 5, "MESSAGE", "OPTIONAL", ".shop.Item");
  for (Compatibility m : kModes)
    EXPECT_TRUE(mentions(check(v1, order_file(body), m),
                         "\"tags\" (3) of shop.Order changed cardinality from repeated to optional"));
}

TEST(SchemaCompat, RenamedMessageAndField) {
  std::string v1 = order_file(kV1Body);
  auto p = check(v1, order_file(kV1Body, "", "", "Purchase"), Compatibility::kBackward, "shop.Purchase");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], "message renamed from shop.Order to shop.Purchase");
  std::string renamed = field("id", 1, "STRING") + field("total", 2, "INT64") + field("tags", 3, "STRING", "REPEATED") +
                        field("status", 4, "ENUM", "OPTIONAL", ".shop.Status") +
                        field("item", 5, "MESSAGE", "OPTIONAL", ".shop.Item");
  EXPECT_TRUE(mentions(check(v1, order_file(renamed), Compatibility::kForward),
                       "field 2 of shop.Order was renamed from \"amount\" to \"total\""));
  EXPECT_TRUE(check(v1, order_file(renamed), Compatibility::kNone).empty());
}

TEST(SchemaCompat, EnumValues) {
  std::string v1 = order_file(kV1Body);
  std::string added = order_file(kV1Body, "",
                                 "value { name: 'UNKNOWN' number: 0 } value { name: 'OPEN' number: 1 } "
                                 "value { name: 'CLOSED' number: 2 } value { name: 'VOID' number: 3 }");
  std::string removed = order_file(kV1Body, "", "value { name: 'UNKNOWN' number: 0 } value { name: 'OPEN' number: 1 }");
  std::string reserved = order_file(kV1Body, "",
                                    "value { name: 'UNKNOWN' number: 0 } value { name: 'OPEN' number: 1 } "
                                    "reserved_range { start: 2 end: 2 }");
  for (Compatibility m : kModes) {
    EXPECT_TRUE(check(v1, added, m).empty());
    EXPECT_TRUE(mentions(check(v1, removed, m), "value \"CLOSED\" (2) of enum shop.Status was removed"));
    EXPECT_TRUE(check(v1, reserved, m).empty()) << check(v1, reserved, m)[0];
  }
}

// proto2 required fields and oneofs: the direction matters.
std::string p2(const std::string& body) {
  return set_of({"name: 'p.proto' package: 'shop' syntax: 'proto2' message_type { name: 'Order' " + body + " }"});
}

TEST(SchemaCompat, RequiredFieldsByDirection) {
  std::string v1 = p2(field("id", 1, "STRING", "REQUIRED"));
  std::string added_required = p2(field("id", 1, "STRING", "REQUIRED") + field("n", 2, "INT32", "REQUIRED"));
  EXPECT_TRUE(
      mentions(check(v1, added_required, Compatibility::kBackward), "\"n\" (2) of shop.Order is a new required"));
  EXPECT_TRUE(check(v1, added_required, Compatibility::kForward).empty());
  EXPECT_FALSE(check(v1, added_required, Compatibility::kFull).empty());

  std::string relaxed = p2(field("id", 1, "STRING", "OPTIONAL"));
  EXPECT_TRUE(check(v1, relaxed, Compatibility::kBackward).empty());
  EXPECT_TRUE(mentions(check(v1, relaxed, Compatibility::kForward), "changed cardinality from required to optional"));
  EXPECT_TRUE(mentions(check(relaxed, v1, Compatibility::kBackward), "changed cardinality from optional to required"));
  EXPECT_TRUE(check(relaxed, v1, Compatibility::kForward).empty());
}

TEST(SchemaCompat, FieldsMovedIntoOneof) {
  std::string v1 = p2(field("a", 1, "INT32") + field("b", 2, "INT32"));
  std::string v2 = p2(field("a", 1, "INT32", "OPTIONAL", "", "oneof_index: 0") +
                      field("b", 2, "INT32", "OPTIONAL", "", "oneof_index: 0") + " oneof_decl { name: 'choice' }");
  EXPECT_TRUE(mentions(check(v1, v2, Compatibility::kBackward), "oneof \"choice\""));
  EXPECT_TRUE(check(v1, v2, Compatibility::kForward).empty());
  EXPECT_TRUE(mentions(check(v2, v1, Compatibility::kForward), "oneof \"choice\""));
  // A proto3 `optional` (synthetic oneof) is not a choice between fields.
  std::string p3a = set_of({"name: 'q.proto' package: 'shop' syntax: 'proto3' message_type { name: 'Order' " +
                            field("a", 1, "INT32") + field("b", 2, "INT32") + " }"});
  std::string p3b = set_of({"name: 'q.proto' package: 'shop' syntax: 'proto3' message_type { name: 'Order' " +
                            field("a", 1, "INT32", "OPTIONAL", "", "oneof_index: 0 proto3_optional: true") +
                            field("b", 2, "INT32") + " oneof_decl { name: '_a' } }"});
  for (Compatibility m : kModes) EXPECT_TRUE(check(p3a, p3b, m).empty());
}

TEST(SchemaCompat, RecursiveMessagesTerminate) {
  std::string tree = set_of({"name: 't.proto' package: 't' syntax: 'proto3' message_type { name: 'Node' " +
                             field("children", 1, "MESSAGE", "REPEATED", ".t.Node") + field("v", 2, "INT32") + " }"});
  std::string changed =
      set_of({"name: 't.proto' package: 't' syntax: 'proto3' message_type { name: 'Node' " +
              field("children", 1, "MESSAGE", "REPEATED", ".t.Node") + field("v", 2, "INT64") + " }"});
  auto a = parse_ok(tree, "t.Node");
  auto b = parse_ok(changed, "t.Node");
  EXPECT_TRUE(check_compatibility(*a, *a, Compatibility::kFull).empty());
  EXPECT_EQ(check_compatibility(*a, *b, Compatibility::kFull).size(), 1u);
}

// Payload codec.
std::unique_ptr<PayloadCodec> codec_of(const std::string& set, const std::string& message = "shop.Order") {
  return std::make_unique<PayloadCodec>(parse_ok(set, message));
}

TEST(PayloadCodec, JsonRoundTrip) {
  auto c = codec_of(order_file(kV1Body));
  std::string bin, json, error;
  ASSERT_TRUE(c->from_json(R"({"id":"o1","amount":"42","tags":["a","b"],"status":"OPEN","item":{"sku":"s","qty":2}})",
                           &bin, &error))
      << error;
  EXPECT_TRUE(c->validate(bin, &error)) << error;
  ASSERT_TRUE(c->to_json(bin, &json, &error)) << error;
  EXPECT_EQ(json, R"({"id":"o1","amount":"42","tags":["a","b"],"status":"OPEN","item":{"sku":"s","qty":2}})");
  EXPECT_FALSE(c->from_json(R"({"id":"o1","nope":1})", &bin, &error));
  EXPECT_NE(error.find("nope"), std::string::npos) << error;
  EXPECT_FALSE(c->from_json(R"({"amount":"x"})", &bin, &error));
  EXPECT_FALSE(c->from_json("not json", &bin, &error));
  EXPECT_TRUE(c->from_json("{}", &bin, &error));
  EXPECT_TRUE(bin.empty());
}

TEST(PayloadCodec, ValidateRejectsMalformedAndUnknown) {
  auto c = codec_of(order_file(kV1Body));
  std::string error;
  EXPECT_TRUE(c->validate("", &error));                            // all defaults
  EXPECT_TRUE(c->validate(std::string("\x0a\x02o1", 4), &error));  // id = "o1"
  EXPECT_FALSE(c->validate("\x0a\x05o1", &error));                 // truncated
  EXPECT_NE(error.find("not a valid shop.Order"), std::string::npos);
  EXPECT_FALSE(c->validate(std::string("\x10\x01", 2) + "\xb8\x01\x01", &error));  // field 23 unknown
  EXPECT_NE(error.find("field number 23, which shop.Order does not define"), std::string::npos) << error;
  // Unknown field inside the nested Item.
  EXPECT_FALSE(c->validate(std::string("\x2a\x02\x18\x01", 4), &error));
  EXPECT_NE(error.find("shop.Item"), std::string::npos) << error;
  // Wrong wire type for a known field: kept as unknown, so refused too.
  EXPECT_FALSE(c->validate(std::string("\x15\x00\x00\x00\x00", 5), &error));
  std::string json;
  EXPECT_FALSE(c->to_json("\xff\xff", &json, &error));

  auto req = codec_of(p2(field("id", 1, "STRING", "REQUIRED")));
  EXPECT_FALSE(req->validate("", &error));
  EXPECT_NE(error.find("required"), std::string::npos);
  std::string bin;
  EXPECT_FALSE(req->from_json("{}", &bin, &error));
}

TEST(PayloadCodec, WellKnownTypeRulesAreValidated) {
  pb::FileDescriptorSet set;
  pb::Timestamp::descriptor()->file()->CopyTo(set.add_file());
  ASSERT_TRUE(pb::TextFormat::ParseFromString(
      "name: 'e.proto' package: 'shop' syntax: 'proto3' dependency: 'google/protobuf/timestamp.proto' "
      "message_type { name: 'Event' " +
          field("at", 1, "MESSAGE", "OPTIONAL", ".google.protobuf.Timestamp") + " }",
      set.add_file()));
  auto c = codec_of(set.SerializeAsString(), "shop.Event");
  std::string bin, json, error;
  ASSERT_TRUE(c->from_json(R"({"at":"2024-01-02T03:04:05Z"})", &bin, &error)) << error;
  ASSERT_TRUE(c->to_json(bin, &json, &error));
  EXPECT_EQ(json, R"({"at":"2024-01-02T03:04:05Z"})");
  // at { seconds: 2^62 }: well-formed wire data, but no valid Timestamp.
  std::string huge = std::string("\x0a\x0a\x08", 3) + std::string("\x80\x80\x80\x80\x80\x80\x80\x80\x40", 9);
  EXPECT_FALSE(c->validate(huge, &error));
  EXPECT_NE(error.find("invalid google.protobuf.Timestamp"), std::string::npos) << error;
  EXPECT_FALSE(c->from_json(R"({"at":"10000-01-01T00:00:00Z"})", &bin, &error));
}

TEST(PayloadCodec, DurationAndAnyRules) {
  pb::FileDescriptorSet set;
  pb::Duration::descriptor()->file()->CopyTo(set.add_file());
  pb::Any::descriptor()->file()->CopyTo(set.add_file());
  ASSERT_TRUE(pb::TextFormat::ParseFromString(
      "name: 'e.proto' package: 'shop' syntax: 'proto3' dependency: 'google/protobuf/duration.proto' "
      "dependency: 'google/protobuf/any.proto' message_type { name: 'Event' " +
          field("d", 1, "MESSAGE", "OPTIONAL", ".google.protobuf.Duration") +
          field("a", 2, "MESSAGE", "OPTIONAL", ".google.protobuf.Any") + " }",
      set.add_file()));
  auto c = codec_of(set.SerializeAsString(), "shop.Event");
  std::string bin, error;
  ASSERT_TRUE(c->from_json(R"({"d":"-1.5s"})", &bin, &error)) << error;
  EXPECT_TRUE(c->validate(bin, &error)) << error;
  // d { seconds: 1 nanos: -1 }: the signs disagree.
  EXPECT_FALSE(c->validate(std::string("\x0a\x0d\x08\x01\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 15), &error));
  EXPECT_NE(error.find("invalid google.protobuf.Duration"), std::string::npos) << error;
  // a { type_url: "type.googleapis.com/nope.X" value: "\x08\x01" }: not resolvable in the schema.
  std::string url = "type.googleapis.com/nope.X";
  std::string any = "\x0a" + std::string(1, static_cast<char>(url.size())) + url + std::string("\x12\x02\x08\x01", 4);
  std::string payload = "\x12" + std::string(1, static_cast<char>(any.size())) + any;
  EXPECT_FALSE(c->validate(payload, &error));
  EXPECT_NE(error.find("well-known"), std::string::npos) << error;
}

// A schema may carry its own google.protobuf.Struct. The real one converts;
// one of another shape is refused: libprotobuf's converter renders the name
// by its real shape and looped forever on a Struct without the map field
// (found by test/fuzz/frame_fuzzer).
TEST(PayloadCodec, RedefinedWellKnownTypeIsRefused) {
  auto event_with = [](const pb::FileDescriptorProto& struct_file) {
    pb::FileDescriptorSet set;
    *set.add_file() = struct_file;
    EXPECT_TRUE(pb::TextFormat::ParseFromString(
        "name: 'e.proto' package: 'shop' syntax: 'proto3' dependency: 'google/protobuf/struct.proto' "
        "message_type { name: 'Event' " +
            field("s", 1, "MESSAGE", "OPTIONAL", ".google.protobuf.Struct") + " }",
        set.add_file()));
    return codec_of(set.SerializeAsString(), "shop.Event");
  };
  pb::FileDescriptorProto real;
  pb::Struct::descriptor()->file()->CopyTo(&real);
  auto c = event_with(real);
  std::string bin, json, error;
  ASSERT_TRUE(c->from_json(R"({"s":{"a":1}})", &bin, &error)) << error;
  ASSERT_TRUE(c->to_json(bin, &json, &error)) << error;
  EXPECT_EQ(json, R"({"s":{"a":1}})");

  pb::FileDescriptorProto fake;
  ASSERT_TRUE(pb::TextFormat::ParseFromString(
      "name: 'google/protobuf/struct.proto' package: 'google.protobuf' syntax: 'proto3' "
      "message_type { name: 'Struct' " +
          field("fields", 1, "STRING") + " }",
      &fake));
  // A map key twice on the wire: the last entry wins, as when parsing into
  // a map, and the JSON names it once (test/fuzz/frame_fuzzer found it).
  const std::string twice(
      "\x0a\x1a"  // s: Struct, 26 bytes
      "\x0a\x0e\x0a\x01"
      "a"
      "\x12\x09\x11\x00\x00\x00\x00\x00\x00\xf0\x3f"  // fields { "a": 1.0 }
      "\x0a\x08\x0a\x01"
      "a"
      "\x12\x03\x1a\x01"
      "x",  // fields { "a": "x" }
      28);
  ASSERT_TRUE(c->to_json(twice, &json, &error)) << error;
  EXPECT_EQ(json, R"({"s":{"a":"x"}})");
  ASSERT_TRUE(c->from_json(json, &bin, &error)) << error;

  auto f = event_with(fake);
  std::string payload("\x0a\x03\x0a\x01x", 5);  // s { fields: "x" }
  EXPECT_FALSE(f->to_json(payload, &json, &error));
  EXPECT_NE(error.find("redefines google.protobuf.Struct"), std::string::npos) << error;
  EXPECT_FALSE(f->validate(payload, &error));
  EXPECT_NE(error.find("redefines google.protobuf.Struct"), std::string::npos) << error;
}

// Garbage: random bytes and mutations of a real set never crash the parser,
// the checker or the codec.
TEST(SchemaCompat, GarbageNeverCrashes) {
  silence_protobuf_logging();
  std::mt19937 rng(12345);
  std::string v1 = order_file(kV1Body + field("when", 9, "MESSAGE", "OPTIONAL", ".shop.Item", "json_name: 'w'") +
                              " nested_type { name: 'In' " + field("x", 1, "SINT64") + " }");
  auto base = parse_ok(v1);
  auto base_codec = codec_of(v1);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    if (i % 4 == 0) {
      s.resize(rng() % 64);
      for (char& c : s) c = static_cast<char>(rng());
    } else {
      s = v1;
      int flips = 1 + rng() % 4;
      for (int k = 0; k < flips; ++k) {
        switch (rng() % 3) {
          case 0:
            s[rng() % s.size()] = static_cast<char>(rng());
            break;
          case 1:
            s.resize(rng() % s.size() + 1);
            break;
          default:
            s.insert(rng() % s.size(), 1, static_cast<char>(rng()));
            break;
        }
      }
    }
    std::string error;
    auto p = ProtoSchema::parse(s, "shop.Order", &error);
    if (p == nullptr) {
      EXPECT_FALSE(error.empty());
      continue;
    }
    ++parsed;
    for (Compatibility m : kModes) {
      check_compatibility(*base, *p, m);
      check_compatibility(*p, *base, m);
    }
    PayloadCodec c(std::move(p));
    std::string json, bin;
    c.validate(s, &error);
    if (c.to_json(s.substr(0, 40), &json, &error)) c.from_json(json, &bin, &error);
    base_codec->to_json(s, &json, &error);
    base_codec->validate(s, &error);
  }
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace intentlog
