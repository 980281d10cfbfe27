#include "io/json_reader.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

namespace {

void append_segment(std::string& out, std::string_view key) {
  out += '/';
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
}

const char* type_phrase(const Json& value) {
  switch (value.type()) {
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "a number";
    case Json::value_t::null: return "null";
    case Json::value_t::binary: return "binary data";
    case Json::value_t::discarded: break;
  }
  return "nothing";
}

// Lower rank wins when problems of several kinds are reported together: a file that does not even have the
// right types is a parse error first.
int rank(StatusCode code) {
  switch (code) {
    case StatusCode::kParseError: return 0;
    case StatusCode::kUnsupported: return 1;
    default: return 2;
  }
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string unknown_field_message(std::string_view key, std::span<const std::string_view> fields) {
  std::string_view best;
  std::size_t best_distance = SIZE_MAX;
  for (std::string_view f : fields) {
    const std::size_t d = edit_distance(key, f);
    if (d < best_distance) {
      best_distance = d;
      best = f;
    }
  }
  if (best_distance <= 2 && best_distance < std::max<std::size_t>(key.size(), 2) / 2 + 1)
    return fmt::format("unknown field (did you mean '{}'?)", best);
  return fmt::format("unknown field; the known ones here are {} (extensions start with \"x-\")",
                     fmt::join(fields, ", "));
}

}  // namespace

// ---- JsonPath -------------------------------------------------------------------------------------------

void JsonPath::append_to(std::string& out) const {
  if (!parent_) return;
  parent_->append_to(out);
  if (is_index_) fmt::format_to(std::back_inserter(out), "/{}", index_);
  else append_segment(out, key_);
}

std::string JsonPath::str() const {
  std::string out;
  append_to(out);
  return out.empty() ? "/" : out;
}

// ---- JsonReader -----------------------------------------------------------------------------------------

void JsonReader::push(StatusCode code, std::string where, std::string message) {
  if (problems_.size() >= kMaxJsonProblems) {
    truncated_ = true;
    return;
  }
  problems_.push_back({code, std::move(where), std::move(message)});
}

void JsonReader::add(StatusCode code, std::string path, std::string message) {
  push(code, path.empty() ? std::string() : ": " + path, std::move(message));
}

void JsonReader::add_at(StatusCode code, std::size_t line, std::size_t column, std::string message) {
  push(code, fmt::format(":{}:{}", line, column), std::move(message));
}

Status JsonReader::status() const {
  if (problems_.empty()) return Status::Ok();
  auto line = [&](const Problem& p) { return fmt::format("{}{}: {}", source_, p.where, p.message); };
  StatusCode code = problems_.front().code;
  for (const Problem& p : problems_)
    if (rank(p.code) < rank(code)) code = p.code;
  if (problems_.size() == 1 && !truncated_) return Status(code, line(problems_.front()));
  std::string message =
      fmt::format("{}: {} problems{}", source_, problems_.size(), truncated_ ? " (stopped counting)" : "");
  for (const Problem& p : problems_) message += "\n  " + line(p);
  return Status(code, std::move(message));
}

void JsonReader::type_mismatch(const Json& value, const JsonPath& path, std::string_view expected) {
  add(StatusCode::kParseError, path, fmt::format("expected {}, got {}", expected, type_phrase(value)));
}

std::optional<double> JsonReader::number(const Json& value, const JsonPath& path) {
  if (value.is_number()) {
    const double v = value.get<double>();
    return v == 0 ? 0.0 : v;  // -0.0 reads as 0: no field gives the sign of zero a meaning
  }
  type_mismatch(value, path, "a number");
  return std::nullopt;
}

std::optional<std::int64_t> JsonReader::integer(const Json& value, const JsonPath& path, std::int64_t min,
                                                 std::int64_t max) {
  auto out_of_range = [&](auto v) {
    add(StatusCode::kInvalidArgument, path, fmt::format("{} is out of range (must be in [{}, {}])", v, min, max));
    return std::nullopt;
  };
  if (value.is_number_unsigned()) {
    const auto v = value.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(max)) return out_of_range(v);
    return static_cast<std::int64_t>(v);
  }
  if (value.is_number_integer()) {
    const auto v = value.get<std::int64_t>();
    if (v < min || v > max) return out_of_range(v);
    return v;
  }
  if (value.is_number_float()) {
    // 2.0 is accepted: exporters that compute sizes in floating point should not have to round.
    const double v = value.get<double>();
    if (std::trunc(v) != v) {
      add(StatusCode::kParseError, path, fmt::format("expected an integer, got {}", v));
      return std::nullopt;
    }
    if (v < static_cast<double>(min) || v >= -static_cast<double>(INT64_MIN) || v > static_cast<double>(max))
      return out_of_range(v);
    return static_cast<std::int64_t>(v);
  }
  type_mismatch(value, path, "an integer");
  return std::nullopt;
}

std::optional<std::string> JsonReader::string(Json& value, const JsonPath& path) {
  if (value.is_string()) return std::move(value.get_ref<std::string&>());
  type_mismatch(value, path, "a string");
  return std::nullopt;
}

Json::array_t* JsonReader::array(Json& value, const JsonPath& path) {
  if (value.is_array()) return &value.get_ref<Json::array_t&>();
  type_mismatch(value, path, "an array");
  return nullptr;
}

Json::object_t* JsonReader::object(Json& value, const JsonPath& path) {
  if (value.is_object()) return &value.get_ref<Json::object_t&>();
  type_mismatch(value, path, "an object");
  return nullptr;
}

// ---- JsonObject -----------------------------------------------------------------------------------------

JsonObject::JsonObject(JsonReader& reader, Json& value, const JsonPath& path, std::span<const std::string_view> fields)
    : reader_(&reader), path_(path), fields_(fields) {
  if (fields.size() > kMaxFields) throw std::logic_error("opplan: JsonObject with more than kMaxFields fields");
  Json::object_t* object = reader.object(value, path);
  if (!object) return;
  valid_ = true;
  for (auto& [key, member] : *object) {
    const auto it = std::find(fields.begin(), fields.end(), std::string_view(key));
    if (it != fields.end()) {
      found_[static_cast<std::size_t>(it - fields.begin())] = &member;
    } else if (!key.starts_with("x-")) {
      reader.add(StatusCode::kParseError, JsonPath(path_, key), unknown_field_message(key, fields));
    }
  }
}

Json* JsonObject::require(std::size_t field) {
  if (found_[field] || !valid_) return found_[field];
  reader_->add(StatusCode::kParseError, path_, fmt::format("missing required field '{}'", fields_[field]));
  return nullptr;
}

double JsonObject::number(std::size_t field, double fallback) { return optional_number(field).value_or(fallback); }

std::optional<double> JsonObject::optional_number(std::size_t field) {
  if (!found_[field]) return std::nullopt;
  return reader_->number(*found_[field], field_path(field));
}

std::optional<double> JsonObject::required_number(std::size_t field) {
  if (!require(field)) return std::nullopt;
  return optional_number(field);
}

std::string JsonObject::string(std::size_t field, std::string_view fallback) {
  if (auto s = optional_string(field)) return std::move(*s);
  return std::string(fallback);
}

std::optional<std::string> JsonObject::optional_string(std::size_t field) {
  if (!found_[field]) return std::nullopt;
  return reader_->string(*found_[field], field_path(field));
}

std::optional<std::string> JsonObject::required_string(std::size_t field) {
  if (!require(field)) return std::nullopt;
  return optional_string(field);
}

std::optional<std::int64_t> JsonObject::integer(std::size_t field, std::int64_t min, std::int64_t max) {
  if (!found_[field]) return std::nullopt;
  return reader_->integer(*found_[field], field_path(field), min, max);
}

Json::array_t* JsonObject::array(std::size_t field, bool required) {
  if (!(required ? require(field) : found_[field])) return nullptr;
  return reader_->array(*found_[field], field_path(field));
}

// ---- header ---------------------------------------------------------------------------------------------

bool check_header(JsonReader& reader, const Json& root, std::string_view format, int version, std::string_view what) {
  const JsonPath root_path;
  if (!root.is_object()) {
    reader.type_mismatch(root, root_path, "an object");
    return false;
  }
  const auto f = root.find("format");
  if (f == root.end()) {
    reader.add(StatusCode::kParseError, root_path,
               fmt::format("missing required field 'format' (an opplan {} file has \"format\": \"{}\")", what, format));
    return false;
  }
  if (!f->is_string() || f->get_ref<const std::string&>() != format) {
    const std::string got = f->is_string() ? fmt::format("\"{}\"", f->get_ref<const std::string&>()) : type_phrase(*f);
    reader.add(StatusCode::kParseError, JsonPath(root_path, "format"),
               fmt::format("expected \"{}\", got {}: this is not an opplan {} file", format, got, what));
    return false;
  }
  const auto v = root.find("version");
  if (v == root.end()) {
    reader.add(StatusCode::kParseError, root_path, "missing required field 'version'");
    return false;
  }
  const JsonPath version_path(root_path, "version");
  const auto number = reader.integer(*v, version_path, INT_MIN, INT_MAX);
  if (!number) return false;
  if (*number != version) {
    reader.add(StatusCode::kUnsupported, version_path,
               fmt::format("unsupported {} format version {} (this build reads version {})", what, *number, version));
    return false;
  }
  return true;
}

// ---- parsing --------------------------------------------------------------------------------------------

namespace {

// A SAX handler for nlohmann's parser that builds the same tree as nlohmann's own DOM parser, except that the
// elements of the streamed top-level arrays are handed to their callbacks one at a time. It also rejects
// duplicate keys (the DOM parser keeps the last silently) and knows the JSON path of every value, so that a
// number too large for a double is reported where it is.
class StreamingParser {
 public:
  StreamingParser(JsonReader& reader, std::string_view text, std::span<const StreamedArray> streamed)
      : reader_(reader), text_(text), streamed_(streamed) {}

  Json& root() { return root_; }

  bool null() { return value(nullptr); }
  bool boolean(bool v) { return value(v); }
  bool number_integer(Json::number_integer_t v) { return value(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return value(v); }
  bool number_float(Json::number_float_t v, const std::string& /*text*/) { return value(v); }
  bool string(std::string& v) { return value(std::move(v)); }
  bool binary(Json::binary_t& v) { return value(std::move(v)); }
  bool start_object(std::size_t /*size*/) { return open(Json::value_t::object); }
  bool start_array(std::size_t /*size*/) { return open(Json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(std::string& k) {
    Level& top = stack_.back();
    auto& object = top.container->get_ref<Json::object_t&>();
    auto [it, inserted] = object.try_emplace(std::move(k));
    top.key = it->first;
    member_ = &it->second;
    if (!inserted) {
      reader_.add(StatusCode::kParseError, path(), "duplicate field: a field may appear only once in an object");
      it->second = Json();
    }
    return true;
  }

  bool parse_error(std::size_t position, const std::string& last_token, const nlohmann::detail::exception& error) {
    // nlohmann reports a number beyond the range of a double (1e999) as out_of_range.406 and stops: name it
    // as the value problem it is, at its path.
    if (error.id == 406) {
      reader_.add(StatusCode::kInvalidArgument, path(),
                  fmt::format("is infinite ({} is beyond the range of a double)", last_token));
      return false;
    }
    // `position` counts the characters read, the offending one included.
    const std::size_t offset = std::min(position > 0 ? position - 1 : 0, text_.size());
    const std::size_t line_start = offset == 0 ? 0 : text_.rfind('\n', offset - 1) + 1;  // npos + 1 == 0
    const std::size_t line = 1 + static_cast<std::size_t>(std::count(text_.begin(), text_.begin() + offset, '\n'));
    std::string_view what = error.what();
    if (const auto column = what.find("column "); column != std::string_view::npos) {
      if (const auto colon = what.find(": ", column); colon != std::string_view::npos) what.remove_prefix(colon + 2);
    } else if (const auto bracket = what.find("] "); bracket != std::string_view::npos) {
      what.remove_prefix(bracket + 2);
    }
    reader_.add_at(StatusCode::kParseError, line, offset - line_start + 1, fmt::format("malformed JSON: {}", what));
    return false;
  }

 private:
  struct Level {
    Json* container;
    std::string_view key;                      // the current key when the container is an object
    const StreamedArray* stream = nullptr;     // set for a streamed array: its elements go to the callback
    std::size_t streamed = 0;                  // elements handed over so far
  };

  // Where the next value goes.
  Json* slot() {
    if (stack_.empty()) return &root_;
    Level& top = stack_.back();
    if (top.stream) return &element_;
    if (top.container->is_array()) {
      auto& array = top.container->get_ref<Json::array_t&>();
      array.emplace_back();
      return &array.back();
    }
    return member_;
  }

  // After a complete value: if it was an element of a streamed array, hand it over.
  void done() {
    if (stack_.empty() || !stack_.back().stream) return;
    Level& top = stack_.back();
    top.stream->on_element(top.streamed++, element_);
    element_ = Json();
  }

  template <typename V>
  bool value(V&& v) {
    *slot() = Json(std::forward<V>(v));
    done();
    return true;
  }

  bool open(Json::value_t type) {
    if (type == Json::value_t::array && stack_.size() == 1 && stack_.front().container->is_object()) {
      for (const StreamedArray& s : streamed_) {
        if (s.key == stack_.front().key) {
          *member_ = Json::array();  // stays empty, so that readers still see the field and its type
          stack_.push_back({member_, {}, &s, 0});
          return true;
        }
      }
    }
    Json* container = slot();
    *container = Json(type);
    stack_.push_back({container, {}});
    return true;
  }

  bool close() {
    const bool was_stream = stack_.back().stream != nullptr;
    stack_.pop_back();
    if (!was_stream) done();
    return true;
  }

  // The JSON path of the value being parsed now.
  std::string path() const {
    std::string out;
    for (std::size_t i = 0; i < stack_.size(); ++i) {
      const Level& level = stack_[i];
      if (level.stream) {
        fmt::format_to(std::back_inserter(out), "/{}", level.streamed);
      } else if (level.container->is_object()) {
        append_segment(out, level.key);
      } else {
        // An open child is already the last element; a pending scalar is not added yet.
        const std::size_t size = level.container->size();
        const bool child_open = i + 1 < stack_.size();
        fmt::format_to(std::back_inserter(out), "/{}", child_open && size > 0 ? size - 1 : size);
      }
    }
    return out.empty() ? "/" : out;
  }

  JsonReader& reader_;
  std::string_view text_;
  std::span<const StreamedArray> streamed_;
  Json root_;
  Json element_;
  std::vector<Level> stack_;
  Json* member_ = nullptr;
};

}  // namespace

std::optional<Json> parse_json(JsonReader& reader, std::string_view text, std::span<const StreamedArray> streamed) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    const std::size_t line = 1 + static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    reader.add_at(StatusCode::kParseError, line, text.size() - (text.rfind('\n') + 1) + 1,
                  "malformed JSON: the input is empty");
    return std::nullopt;
  }
  StreamingParser parser(reader, text, streamed);
  if (!Json::sax_parse(text.data(), text.data() + text.size(), &parser)) return std::nullopt;
  return std::move(parser.root());
}

}  // namespace detail
OPPLAN_END_NAMESPACE
