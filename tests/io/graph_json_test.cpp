#include <opplan/io.hpp>

#include <cctype>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace opplan {
namespace {

const std::string kData = OPPLAN_TEST_DATA_DIR;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("opplan_graph_json_test_" + name)).string();
}

void expect_same_graph(const Graph& a, const Graph& b) {
  EXPECT_EQ(a.name(), b.name());
  ASSERT_EQ(a.num_ops(), b.num_ops());
  ASSERT_EQ(a.num_edges(), b.num_edges());
  for (OpId id : a.ops()) EXPECT_EQ(a.op(id), b.op(id)) << "op #" << id.value() << " '" << a.op(id).name << "'";
  for (EdgeId id : a.edges()) EXPECT_EQ(a.edge(id), b.edge(id)) << "edge #" << id.value();
}

Graph small_graph() {
  auto graph = read_graph_json(kData + "/graph_small.json");
  EXPECT_TRUE(graph.ok()) << graph.status().to_string();
  return graph.ok() ? std::move(graph).value() : Graph();
}

// ---- reading ---------------------------------------------------------------------------------------

TEST(GraphJson, ReadsEveryFieldOfTheSmallExample) {
  const Graph g = small_graph();
  EXPECT_EQ(g.name(), "mlp-block");
  ASSERT_EQ(g.num_ops(), 7u);
  ASSERT_EQ(g.num_edges(), 7u);

  const Op& fc1 = g.op(*g.find_op("fc1"));
  EXPECT_EQ(fc1.kind, "matmul");
  EXPECT_EQ(fc1.forward.flops, 34359738368.0);
  EXPECT_EQ(fc1.forward.bytes, 50331648.0);
  EXPECT_EQ(fc1.forward.seconds, 0.000118);
  EXPECT_EQ(fc1.input_grad.seconds, 0.000121);
  EXPECT_FALSE(fc1.weight_grad.seconds.has_value());
  EXPECT_EQ(fc1.param_bytes, 8388608.0);
  EXPECT_EQ(fc1.activation_bytes, 8388608.0);
  EXPECT_EQ(fc1.shape, (std::vector<std::int64_t>{8, 512, 4096}));
  EXPECT_EQ(fc1.dtype, DType::kBF16);
  EXPECT_EQ(fc1.dims, "b s h, h f -> b s f");
  EXPECT_EQ(fc1.layer, "layer0");
  EXPECT_EQ(fc1.group, "");

  // Omitted fields take their defaults.
  const Op& embed = g.op(OpId(0));
  EXPECT_EQ(embed.name, "embed");
  EXPECT_EQ(embed.input_grad, PhaseCost{});
  EXPECT_EQ(embed.group, "tied-embedding");
  const Op& loss = g.op(*g.find_op("loss"));
  EXPECT_TRUE(loss.shape.empty());
  EXPECT_EQ(loss.dtype, DType::kF32);
  EXPECT_EQ(loss.param_bytes, 0.0);
  EXPECT_EQ(loss.dims, "");

  // An edge without "bytes" carries the producer's output: 8 * 512 * 1024 bf16 values.
  EXPECT_EQ(g.edge(EdgeId(0)).src, OpId(0));
  EXPECT_EQ(g.edge(EdgeId(0)).dst, *g.find_op("ln1"));
  EXPECT_EQ(g.edge(EdgeId(0)).bytes, 8.0 * 512 * 1024 * 2);
  EXPECT_EQ(g.edge(EdgeId(2)).bytes, 33554432.0);
}

TEST(GraphJson, MinimalFileUsesDefaults) {
  auto g = parse_graph_json(R"({"format": "opplan.graph", "version": 1, "ops": [{"name": "x"}]})");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->name(), "");
  EXPECT_EQ(g->num_edges(), 0u);
  Op expected;
  expected.name = "x";
  EXPECT_EQ(g->op(OpId(0)), expected);
}

TEST(GraphJson, EmptyGraphIsValid) {
  auto g = parse_graph_json(R"({"format": "opplan.graph", "version": 1, "ops": [], "edges": []})");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->num_ops(), 0u);
}

TEST(GraphJson, EdgesMayComeBeforeOps) {
  // What Python's json.dump(..., sort_keys=True) writes.
  auto g = parse_graph_json(R"({"edges": [{"bytes": 4, "from": "a", "to": "b"}], "format": "opplan.graph",
                                "ops": [{"name": "a"}, {"name": "b"}], "version": 1})");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  ASSERT_EQ(g->num_edges(), 1u);
  EXPECT_EQ(g->edge(EdgeId(0)), (Edge{OpId(0), OpId(1), 4}));
}

TEST(GraphJson, ExtensionKeysAreIgnoredEverywhere) {
  auto g = parse_graph_json(R"({"format": "opplan.graph", "version": 1, "x-tool": {"any": [1, 2]},
      "ops": [{"name": "a", "x-line": 3, "forward": {"flops": 1, "x-note": "measured"}}, {"name": "b"}],
      "edges": [{"from": "a", "to": "b", "x-kind": "activation"}]})");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->op(OpId(0)).forward.flops, 1.0);
}

TEST(GraphJson, IntegersBeyondTwoToThe53AreReadAsDoubles) {
  auto g = parse_graph_json(R"({"format": "opplan.graph", "version": 1,
      "ops": [{"name": "a", "forward": {"flops": 18014398509481985, "bytes": 100000000000000000000}}]})");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->op(OpId(0)).forward.flops, 18014398509481984.0);  // 2^54 + 1 rounds to 2^54
  EXPECT_EQ(g->op(OpId(0)).forward.bytes, 1e20);
}

TEST(GraphJson, IntegralFloatsAreAcceptedAsShapeDimensions) {
  auto g = parse_graph_json(R"({"format": "opplan.graph", "version": 1, "ops": [{"name": "a", "shape": [8.0, 2e3]}]})");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->op(OpId(0)).shape, (std::vector<std::int64_t>{8, 2000}));
}

// ---- errors ----------------------------------------------------------------------------------------

TEST(GraphJson, MissingFileIsAnIoErrorNamingTheFile) {
  const std::string path = kData + "/no_such_graph.json";
  auto g = read_graph_json(path);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kIoError);
  EXPECT_NE(g.status().message().find(path), std::string::npos) << g.status().message();
}

TEST(GraphJson, DirectoryIsAnIoError) {
  auto g = read_graph_json(kData);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kIoError);
  EXPECT_NE(g.status().message().find(kData), std::string::npos) << g.status().message();
}

TEST(GraphJson, MalformedJsonReportsLineAndColumn) {
  // The ',' missing after "version": 1 is noticed at the string that follows, which ends on line 4, column 7.
  const std::string text = "{\n  \"format\": \"opplan.graph\",\n  \"version\": 1\n  \"ops\": []\n}";
  auto g = parse_graph_json(text, "mine.json");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kParseError);
  EXPECT_EQ(g.status().message().rfind("mine.json:4:7: malformed JSON: ", 0), 0u) << g.status().message();
}

TEST(GraphJson, LineAndColumnAreCountedFromTheByteOffset) {
  // An invalid literal in the middle of a line, after multi-byte UTF-8 on an earlier line.
  const std::string text = "{\"name\": \"caf\xc3\xa9\",\n\n   \"ops\": [nul]}";
  auto g = parse_graph_json(text);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message().rfind("<string>:3:15: malformed JSON: ", 0), 0u) << g.status().message();
}

TEST(GraphJson, InfinityFrom1e999IsReportedAtItsPath) {
  auto g = parse_graph_json(R"({"format": "opplan.graph", "version": 1, "ops": [{"name": "a"}, {"name": "b",
                               "weight_grad": {"flops": -1e999}}]})");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(g.status().message(),
            "<string>: /ops/1/weight_grad/flops: is infinite (-1e999 is beyond the range of a double)");
}

TEST(GraphJson, ReportsAllProblemsEachOnItsOwnLine) {
  auto g = read_graph_json(kData + "/bad/graph_several_problems.json");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument);
  const std::string file = kData + "/bad/graph_several_problems.json";
  EXPECT_EQ(g.status().message(), file + ": 4 problems\n" +                                   //
                                      "  " + file + ": /ops/0/forward/flops: is negative (-1)\n" +  //
                                      "  " + file + ": /ops/1/activation_bytes: is negative (-2)\n" +
                                      "  " + file + ": /ops/2/name: 'b' is also the name of op #1\n" +
                                      "  " + file + ": /edges/0: connects op 'a' to itself");
}

TEST(GraphJson, StopsCountingAfterFiftyProblems) {
  std::string text = R"({"format": "opplan.graph", "version": 1, "ops": [)";
  for (int i = 0; i < 80; ++i)
    text += (i ? "," : "") + std::string(R"({"name": "op)") + std::to_string(i) + R"(", "param_bytes": -1})";
  text += "]}";
  auto g = parse_graph_json(text);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message().rfind("<string>: 50 problems (stopped counting)\n", 0), 0u);
}

TEST(GraphJson, TiedWeightOwnerIsReadWrittenAndChecked) {
  const char* text = R"({"format": "opplan.graph", "version": 1, "ops": [
      {"name": "embedding", "param_bytes": 8},
      {"name": "lm_head", "params_from": "embedding"}]})";
  auto g = parse_graph_json(text);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->op(OpId(1)).params_from, "embedding");
  EXPECT_EQ(g->op(OpId(0)).params_from, "");
  auto back = parse_graph_json(graph_to_json(*g, 2));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->op(OpId(1)), g->op(OpId(1)));
  auto wrong = parse_graph_json(R"({"format": "opplan.graph", "version": 1, "ops": [
      {"name": "lm_head", "params_from": "embeding"}]})");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("/ops/0/params_from: names no op ('embeding')"), std::string::npos) << wrong.status().message();
}

TEST(GraphJson, UnknownKeyListsTheKnownOnesWhenNothingIsClose) {
  auto g = parse_graph_json(R"({"format": "opplan.graph", "version": 1, "ops": [{"name": "a", "colour": "red"}]})");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message(),
            "<string>: /ops/0/colour: unknown field; the known ones here are name, kind, forward, input_grad, "
            "weight_grad, param_bytes, activation_bytes, shape, dtype, dims, layer, group, params_from (extensions "
            "start with "
            "\"x-\")");
}

TEST(GraphJson, KeysWithSlashesAreEscapedInPaths) {
  auto g = parse_graph_json(R"({"format": "opplan.graph", "version": 1, "ops": [], "a/b~c": 1})");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("/a~1b~0c: unknown field"), std::string::npos) << g.status().message();
}

// One bad file per case, with the whole expected message after the file name, or the start of it.
struct BadFile {
  const char* file;
  StatusCode code;
  const char* message;
  bool exact = true;
};

std::ostream& operator<<(std::ostream& os, const BadFile& b) { return os << b.file; }

const BadFile kBadGraphs[] = {
    {"graph_malformed.json", StatusCode::kParseError,
     ":4:7: malformed JSON: syntax error while parsing object - unexpected string literal; expected '}'"},
    {"graph_trailing_garbage.json", StatusCode::kParseError, ":1:55: malformed JSON: syntax error", false},
    {"graph_empty.json", StatusCode::kParseError, ":1:1: malformed JSON: the input is empty"},
    {"graph_not_object.json", StatusCode::kParseError, ": /: expected an object, got an array"},
    {"graph_missing_format.json", StatusCode::kParseError,
     ": /: missing required field 'format' (an opplan graph file has \"format\": \"opplan.graph\")"},
    {"graph_wrong_format.json", StatusCode::kParseError,
     ": /format: expected \"opplan.graph\", got \"opplan.cluster\": this is not an opplan graph file"},
    {"graph_version2.json", StatusCode::kUnsupported,
     ": /version: unsupported graph format version 2 (this build reads version 1)"},
    {"graph_missing_ops.json", StatusCode::kParseError, ": /: missing required field 'ops'"},
    {"graph_ops_not_array.json", StatusCode::kParseError, ": /ops: expected an array, got an object"},
    {"graph_op_not_object.json", StatusCode::kParseError, ": /ops/0: expected an object, got a string"},
    {"graph_wrong_type.json", StatusCode::kParseError, ": /ops/1/forward/flops: expected a number, got a string"},
    {"graph_null.json", StatusCode::kParseError, ": /ops/0/forward/seconds: expected a number, got null"},
    {"graph_missing_name.json", StatusCode::kParseError, ": /ops/1: missing required field 'name'"},
    {"graph_empty_name.json", StatusCode::kInvalidArgument, ": /ops/0/name: is empty"},
    {"graph_unknown_field.json", StatusCode::kParseError,
     ": /ops/0/forward/flop: unknown field (did you mean 'flops'?)"},
    {"graph_duplicate_key.json", StatusCode::kParseError,
     ": /ops/1/name: duplicate field: a field may appear only once in an object"},
    {"graph_fractional_shape.json", StatusCode::kParseError, ": /ops/0/shape/1: expected an integer, got 1.5"},
    {"graph_bad_dtype.json", StatusCode::kInvalidArgument,
     ": /ops/0/dtype: unknown dtype 'fp16' (known: f32, f16, bf16, f64, f8, i64, i32, i16, i8, u8, bool)"},
    {"graph_edge_missing_to.json", StatusCode::kParseError, ": /edges/1: missing required field 'to'"},
    {"graph_unknown_op.json", StatusCode::kInvalidArgument, ": /edges/1/to: no op named 'fc9'"},
    {"graph_negative.json", StatusCode::kInvalidArgument, ": /ops/1/forward/flops: is negative (-5)"},
    {"graph_infinite.json", StatusCode::kInvalidArgument,
     ": /ops/0/forward/bytes: is infinite (1e999 is beyond the range of a double)"},
    {"graph_duplicate_names.json", StatusCode::kInvalidArgument, ": /ops/2/name: 'a' is also the name of op #0"},
    {"graph_self_loop.json", StatusCode::kInvalidArgument, ": /edges/0: connects op 'b' to itself"},
    {"graph_cycle.json", StatusCode::kInvalidArgument, ": the graph has a cycle: 'a' -> 'b' -> 'c' -> 'a'"},
    {"graph_several_problems.json", StatusCode::kInvalidArgument, ": 4 problems\n", false},
    // Type errors come first in the code: a file with the wrong types is a parse error even if it also names
    // unknown ops.
    {"graph_several_read_problems.json", StatusCode::kParseError,
     ": 4 problems\n  {F}: /ops/0/param_bytes: expected a number, got a boolean\n  {F}: /ops/2: missing required "
     "field 'name'\n  {F}: /edges/1: missing required field 'to'\n  {F}: /edges/0/to: no op named 'x'"},
};

class GraphJsonBadFile : public testing::TestWithParam<BadFile> {};

TEST_P(GraphJsonBadFile, IsRejectedWithItsProblemAtItsPath) {
  const BadFile& bad = GetParam();
  const std::string path = kData + "/bad/" + bad.file;
  auto g = read_graph_json(path);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), bad.code) << g.status().to_string();
  std::string expected = path + bad.message;
  for (auto at = expected.find("{F}"); at != std::string::npos; at = expected.find("{F}"))
    expected.replace(at, 3, path);
  if (bad.exact)
    EXPECT_EQ(g.status().message(), expected);
  else
    EXPECT_EQ(g.status().message().rfind(expected, 0), 0u) << g.status().message();
}

INSTANTIATE_TEST_SUITE_P(GraphJson, GraphJsonBadFile, testing::ValuesIn(kBadGraphs),
                         [](const testing::TestParamInfo<BadFile>& info) {
                           std::string name = std::filesystem::path(info.param.file).stem().string();
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(GraphJson, EveryBadGraphFileHasATest) {
  std::set<std::string> tested;
  for (const BadFile& b : kBadGraphs) tested.insert(b.file);
  for (const auto& entry : std::filesystem::directory_iterator(kData + "/bad")) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("graph_", 0) == 0) EXPECT_TRUE(tested.count(name)) << name << " is not in kBadGraphs";
  }
}

TEST(GraphJson, TheExampleInTheDocumentationIsTheSmallExample) {
  std::ifstream in(kData + "/../../docs/file-formats.md");
  ASSERT_TRUE(in) << "docs/file-formats.md not found";
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int examples = 0;
  for (auto at = doc.find("```json\n"); at != std::string::npos; at = doc.find("```json\n", at + 1)) {
    const auto begin = at + 8;
    const std::string block = doc.substr(begin, doc.find("```", begin) - begin);
    if (block.find("\"opplan.graph\"") == std::string::npos) continue;
    auto g = parse_graph_json(block, "docs/file-formats.md");
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    expect_same_graph(small_graph(), *g);
    ++examples;
  }
  EXPECT_EQ(examples, 1);
}

// ---- writing ---------------------------------------------------------------------------------------

TEST(GraphJson, SmallExampleRoundTripsPrettyAndCompact) {
  const Graph g = small_graph();
  for (int indent : {2, 0, 4, -1}) {
    SCOPED_TRACE(indent);
    const std::string text = graph_to_json(g, indent);
    auto back = parse_graph_json(text, "written");
    ASSERT_TRUE(back.ok()) << back.status().to_string() << "\n" << text;
    expect_same_graph(g, *back);
  }
}

TEST(GraphJson, CompactIsOneLineAndPrettyKeepsShortRecordsOnOneLine) {
  const Graph g = small_graph();
  const std::string compact = graph_to_json(g, -1);
  EXPECT_EQ(compact.find('\n'), std::string::npos);
  EXPECT_EQ(compact.rfind(R"({"format":"opplan.graph","version":1,"name":"mlp-block","ops":[{"name":"embed",)", 0), 0u)
      << compact.substr(0, 100);
  const std::string pretty = graph_to_json(g);
  EXPECT_NE(pretty.find("\n      \"forward\": {\"flops\": 34359738368, \"bytes\": 50331648, \"seconds\": 0.000118},\n"),
            std::string::npos)
      << pretty;
  EXPECT_NE(pretty.find("\n      \"shape\": [8, 512, 4096],\n"), std::string::npos);
  EXPECT_NE(pretty.find("\n    {\"from\": \"embed\", \"to\": \"ln1\", \"bytes\": 8388608},\n"), std::string::npos);
  EXPECT_EQ(pretty.back(), '\n');
}

TEST(GraphJson, DefaultsAreOmittedButSecondsAlwaysWritten) {
  Graph g("defaults");
  Op plain;
  plain.name = "plain";
  g.add_op(plain);
  Op timed;
  timed.name = "timed";
  timed.weight_grad.seconds = 0.0;  // a measured zero is still a measurement
  g.add_op(timed);
  const std::string text = graph_to_json(g, -1);
  EXPECT_NE(text.find(R"({"name":"plain","kind":"generic"})"), std::string::npos) << text;
  EXPECT_NE(text.find(R"({"name":"timed","kind":"generic","weight_grad":{"flops":0,"bytes":0,"seconds":0}})"),
            std::string::npos)
      << text;
  auto back = parse_graph_json(text);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  expect_same_graph(g, *back);
}

TEST(GraphJson, WriteThenReadAFile) {
  const Graph g = small_graph();
  const std::string path = temp_path("small.json");
  ASSERT_TRUE(write_graph_json(g, path).ok());
  auto back = read_graph_json(path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  expect_same_graph(g, *back);
  std::filesystem::remove(path);
}

TEST(GraphJson, WritingToAMissingDirectoryIsAnIoErrorNamingTheFile) {
  const std::string path = temp_path("no/such/dir/graph.json");
  const Status status = write_graph_json(small_graph(), path);
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_NE(status.message().find(path), std::string::npos) << status.message();
}

double awkward_double(std::mt19937_64& rng) {
  static const double kAwkward[] = {1.0 / 3,  2.0 / 3,  0.1 + 0.2, 1e-300, 6.02e23,  5e-324,   DBL_MIN,
                                    DBL_MAX,  1e16,     1e16 + 2,  0.0,    std::nextafter(1.0, 2.0),
                                    12345678.901234567, 9007199254740993.0, 1e21, 123456789012345678.0};
  std::uniform_int_distribution<std::size_t> pick(0, std::size(kAwkward));
  const std::size_t i = pick(rng);
  if (i < std::size(kAwkward)) return kAwkward[i];
  return std::ldexp(std::uniform_real_distribution<double>(0.5, 1)(rng),
                    std::uniform_int_distribution<int>(-1000, 1000)(rng));
}

TEST(GraphJson, RandomGraphWithAwkwardDoublesAndNamesRoundTripsExactly) {
  std::mt19937_64 rng(20240607);
  const DType dtypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kF8, DType::kI64,
                          DType::kI32, DType::kI16, DType::kI8,   DType::kU8,  DType::kBool};
  const char* odd_names[] = {"quote\"d", "back\\slash", "new\nline", "tab\t", "caf\xc3\xa9", "\xe2\x88\x91", "x-y/z~1"};
  Graph g("random \"graph\"");
  const int n = 300;
  for (int i = 0; i < n; ++i) {
    Op op;
    op.name = (i < static_cast<int>(std::size(odd_names)) ? odd_names[i] : "op") + std::to_string(i);
    op.kind = i % 2 ? "matmul" : "elementwise";
    for (Phase p : kAllPhases) {
      op.cost(p).flops = awkward_double(rng);
      op.cost(p).bytes = awkward_double(rng);
      if (rng() % 3 == 0) op.cost(p).seconds = awkward_double(rng);
    }
    op.param_bytes = awkward_double(rng);
    op.activation_bytes = rng() % 4 ? awkward_double(rng) : 0;
    for (std::uint64_t d = rng() % 5; d > 0; --d) op.shape.push_back(static_cast<std::int64_t>(rng() % (1ull << 40)));
    op.dtype = dtypes[rng() % std::size(dtypes)];
    if (rng() % 2) op.dims = "b m k, k n -> b m n";
    if (rng() % 2) op.layer = "layer" + std::to_string(i / 10);
    if (rng() % 4 == 0) op.group = "g" + std::to_string(i % 7);
    g.add_op(std::move(op));
  }
  for (int e = 0; e < 2 * n; ++e) {
    const auto a = static_cast<std::uint32_t>(rng() % (n - 1));
    const auto b = static_cast<std::uint32_t>(a + 1 + rng() % (n - 1 - a));
    if (rng() % 4) g.add_edge(OpId(a), OpId(b), awkward_double(rng));
    else g.add_edge(OpId(a), OpId(b));  // output bytes of a, maybe huge
  }
  ASSERT_TRUE(g.validate().ok()) << g.validate().to_string();
  for (int indent : {2, -1}) {
    auto back = parse_graph_json(graph_to_json(g, indent));
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    expect_same_graph(g, *back);
  }
}

TEST(GraphJson, InvalidUtf8InANameDoesNotMakeWritingFail) {
  Graph g;
  Op op;
  op.name = "bad\xff";
  g.add_op(op);
  const std::string text = graph_to_json(g);
  auto back = parse_graph_json(text);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->op(OpId(0)).name, "bad\xef\xbf\xbd");  // U+FFFD
}

// Issue 16: "flops": -0.0 validated and was written back as "-0". It reads as +0 and is written
// as 0, so write-then-read is lossless.
TEST(GraphJson, NegativeZeroReadsAndWritesAsZero) {
  Graph g("zeros");
  Op op;
  op.name = "a";
  op.kind = "matmul";
  op.forward.flops = -0.0;
  op.forward.bytes = 8;
  op.activation_bytes = -0.0;
  g.add_op(op);
  for (int indent : {2, -1}) {
    const std::string text = graph_to_json(g, indent);
    EXPECT_EQ(text.find("-0"), std::string::npos) << text;
    auto back = parse_graph_json(text, "written");
    ASSERT_TRUE(back.ok()) << back.status().to_string() << "\n" << text;
    EXPECT_EQ(graph_to_json(*back, indent), text);
  }
  const std::string text =
      R"({"format": "opplan.graph", "version": 1, "name": "z", "ops": [{"name": "a", "kind": "matmul", )"
      R"("forward": {"flops": -0.0, "bytes": -0}, "activation_bytes": -0.0}], "edges": []})";
  auto read = parse_graph_json(text, "negative-zero.json");
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  const Op& a = read->op(OpId(0));
  EXPECT_FALSE(std::signbit(a.forward.flops));
  EXPECT_FALSE(std::signbit(a.forward.bytes));
  EXPECT_FALSE(std::signbit(a.activation_bytes));
  EXPECT_TRUE(read->validate().ok());
  auto again = parse_graph_json(graph_to_json(*read), "written");
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(graph_to_json(*again), graph_to_json(*read));
}

TEST(GraphJson, InfiniteValuesAreWrittenSoThatReadingNamesThem) {
  Graph g;
  Op op;
  op.name = "a";
  op.forward.flops = std::numeric_limits<double>::infinity();
  g.add_op(op);
  const std::string text = graph_to_json(g, -1);
  EXPECT_NE(text.find(R"("flops":1e999)"), std::string::npos) << text;
  auto back = parse_graph_json(text);
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.status().message().find("/ops/0/forward/flops: is infinite"), std::string::npos);
}

}  // namespace
}  // namespace opplan
