// Private: what the graph and cluster JSON readers share. Parsing with problems reported by line and column or
// by JSON path, typed access to the fields of an object with a message for every mistake, the "format" /
// "version" header check, and the JSON text writer both formats use.
//
// Readers do not stop at the first mistake: every problem is collected (up to kMaxJsonProblems) and reported
// at once, one per line, so that a person fixing a file by hand sees all of them in one run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <opplan/status.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

// std::map-backed objects parse faster than ordered_json here (measured); readers never depend on key order.
using Json = nlohmann::json;

inline constexpr std::size_t kMaxJsonProblems = 50;

// A JSON pointer kept as a chain of stack objects (each refers to its parent, which must outlive it) and
// rendered only when a problem is reported, so reading a correct file builds no path strings.
class JsonPath {
 public:
  JsonPath() = default;  // the document root
  JsonPath(const JsonPath& parent, std::string_view key) : parent_(&parent), key_(key), is_index_(false) {}
  JsonPath(const JsonPath& parent, std::size_t index) : parent_(&parent), index_(index), is_index_(true) {}

  // "/ops/3/forward/flops"; "/" for the root. '~' and '/' in keys are escaped as JSON pointers require.
  std::string str() const;

 private:
  void append_to(std::string& out) const;

  const JsonPath* parent_ = nullptr;
  std::string_view key_;
  std::size_t index_ = 0;
  bool is_index_ = false;
};

// Collects the problems of one document and turns them into one Status.
class JsonReader {
 public:
  explicit JsonReader(std::string_view source) : source_(source) {}

  std::string_view source() const { return source_; }
  bool has_problems() const { return !problems_.empty(); }

  // `path` may be empty for a problem of the whole document.
  void add(StatusCode code, std::string path, std::string message);
  void add(StatusCode code, const JsonPath& path, std::string message) { add(code, path.str(), std::move(message)); }
  // For malformed JSON: "SOURCE:LINE:COLUMN: message".
  void add_at(StatusCode code, std::size_t line, std::size_t column, std::string message);
  // Says "(stopped counting)" even if fewer problems were added here: a checker upstream stopped early.
  void mark_truncated() { truncated_ = true; }

  // OK without problems. One problem: "SOURCE: /path: message". Several: a count line, then one indented
  // line per problem. The code is the most basic one reported: a parse error before an invalid value.
  Status status() const;

  // Value checks that record a problem and return nullopt / nullptr on a mismatch.
  std::optional<double> number(const Json& value, const JsonPath& path);
  std::optional<std::int64_t> integer(const Json& value, const JsonPath& path, std::int64_t min, std::int64_t max);
  // Moves the string out of `value` (the documents are the readers' own).
  std::optional<std::string> string(Json& value, const JsonPath& path);
  Json::array_t* array(Json& value, const JsonPath& path);
  Json::object_t* object(Json& value, const JsonPath& path);

  // "expected a number, got a string".
  void type_mismatch(const Json& value, const JsonPath& path, std::string_view expected);

 private:
  struct Problem {
    StatusCode code;
    std::string where;  // ": /ops/3" or ":12:7" or empty, written right after the source name
    std::string message;
  };
  void push(StatusCode code, std::string where, std::string message);

  std::string source_;
  std::vector<Problem> problems_;
  bool truncated_ = false;
};

// The members of one JSON object matched, in one pass, against the field names its reader knows. Keys that
// are not known are problems ("did you mean ...?") unless they start with "x-": those are extensions, kept
// by no one and ignored, so that exporters can carry their own data.
class JsonObject {
 public:
  static constexpr std::size_t kMaxFields = 16;

  // Records "expected an object, got ..." when `value` is not an object; then every field is absent.
  // `fields` must outlive this object (the readers pass static tables).
  JsonObject(JsonReader& reader, Json& value, const JsonPath& path, std::span<const std::string_view> fields);

  Json* find(std::size_t field) const { return found_[field]; }  // nullptr when absent

  // Records "missing required field 'x'" and returns nullptr when absent.
  Json* require(std::size_t field);

  // Typed reads; a missing optional field gives the default, a mistyped one records a problem and gives it too.
  double number(std::size_t field, double fallback = 0);
  std::optional<double> optional_number(std::size_t field);
  std::optional<double> required_number(std::size_t field);
  std::string string(std::size_t field, std::string_view fallback = {});
  std::optional<std::string> optional_string(std::size_t field);
  std::optional<std::string> required_string(std::size_t field);
  std::optional<std::int64_t> integer(std::size_t field, std::int64_t min, std::int64_t max);
  Json::array_t* array(std::size_t field, bool required);
  // A field for a nested JsonObject to read; nullptr when absent.
  Json* object_value(std::size_t field, bool required) { return required ? require(field) : find(field); }

  // The path of one field, for nested readers and problems. It refers to this object: keep it in scope.
  JsonPath field_path(std::size_t field) const { return JsonPath(path_, fields_[field]); }

 private:
  JsonReader* reader_;
  JsonPath path_;
  std::span<const std::string_view> fields_;
  Json* found_[kMaxFields] = {};
  bool valid_ = false;
};

// Checks "format" and "version" of a document root. Returns false with the problem recorded when the file is
// not of this format, or of a version this build cannot read: then nothing else in it is worth reporting.
// `what` is "graph" or "cluster".
bool check_header(JsonReader& reader, const Json& root, std::string_view format, int version, std::string_view what);

// Elements of a top-level array (e.g. "ops") that are handed over one at a time as soon as each is parsed,
// then dropped: a 100,000-op graph never exists as one JSON tree.
struct StreamedArray {
  std::string_view key;
  std::function<void(std::size_t index, Json& element)> on_element;
};

// Parses a document whose root should be an object. Arrays named in `streamed` that sit directly under the
// root are passed to their callbacks and left empty in the returned document (so their presence and type
// can still be checked). On malformed JSON returns nullopt with the problem recorded as
// "SOURCE:LINE:COLUMN: malformed JSON: ...", or, for numbers too large for a double, at their JSON path.
std::optional<Json> parse_json(JsonReader& reader, std::string_view text, std::span<const StreamedArray> streamed = {});

// Reads a whole file. nullopt (with the kIoError status in `error`) when it cannot be read.
std::optional<std::string> read_text_file(const std::string& path, Status& error);

// The public parse_*_json entry points: run a reader, turning the only exceptions that can reach
// here (resource exhaustion; bad input is reported by the reader) into kInternal naming `what`.
template <typename T, typename Read>
Result<T> parse_guarded(std::string_view source, std::string_view what, Read&& read) {
  try {
    return read();
  } catch (const std::exception& e) {
    return Status(StatusCode::kInternal, std::string(source) + ": reading the " + std::string(what) +
                                             " failed: " + e.what());
  }
}

// The public read_*_json entry points: read the file, then parse it with the file as its source.
template <typename T>
Result<T> read_json_file(const std::string& path, Result<T> (*parse)(std::string_view, std::string_view)) {
  Status error;
  auto text = read_text_file(path, error);
  if (!text) return error;
  return parse(*text, path);
}
Status write_text_file(const std::string& path, std::string_view text);

// Writes JSON text directly, without building a tree (a 100,000-op graph would otherwise be copied into
// millions of small nodes). The caller chooses the layout of each container; indent < 0 writes everything
// on one compact line. Doubles are printed in the shortest form that reads back to the same value;
// infinities as 1e999 / -1e999 (read back as infinity, which the readers then report by path), NaN as null.
class JsonWriter {
 public:
  enum class Layout {
    kExpanded,  // one member per line, indented
    kOneLine,   // {"flops": 1, "bytes": 2}: short records, one per line in their parent
    kWrapped,   // long lists of scalars (a mesh's devices) filled into lines of about 100 columns
  };

  explicit JsonWriter(int indent) : indent_(indent) {}

  JsonWriter& begin_object(Layout layout = Layout::kExpanded) { return open('{', layout); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array(Layout layout = Layout::kExpanded) { return open('[', layout); }
  JsonWriter& end_array() { return close(']'); }

  JsonWriter& key(std::string_view name);
  JsonWriter& value(double v);
  JsonWriter& value(std::int64_t v);
  JsonWriter& value(int v) { return value(static_cast<std::int64_t>(v)); }
  JsonWriter& value(std::string_view v);
  JsonWriter& value(const std::string& v) { return value(std::string_view(v)); }
  JsonWriter& value(const char* v) { return value(std::string_view(v)); }
  JsonWriter& boolean(bool v) {
    scalar(v ? "true" : "false");
    return *this;
  }
  template <typename T>
  JsonWriter& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  // The text, ending with a newline unless compact.
  std::string finish();

 private:
  struct Level {
    Layout layout;
    bool empty = true;
  };

  JsonWriter& open(char bracket, Layout layout);
  JsonWriter& close(char bracket);
  // Separator and line break before a member or array element whose text is `next` (for wrapping).
  void before_item(std::size_t next_size);
  void scalar(std::string_view text);
  void newline(std::size_t depth);

  std::string out_;
  std::vector<Level> stack_;
  std::size_t line_start_ = 0;
  bool after_key_ = false;
  int indent_;
};

}  // namespace detail
OPPLAN_END_NAMESPACE
