// Private: files and the JSON text writer shared by the graph and cluster formats (json_reader.hpp).
#include "io/json_reader.hpp"

#include <cerrno>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

// ---- files ----------------------------------------------------------------------------------------------

std::optional<std::string> read_text_file(const std::string& path, Status& error) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    error = Status(StatusCode::kIoError, fmt::format("cannot read '{}': it is a directory", path));
    return std::nullopt;
  }
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  std::string text;
  if (in) {
    in.seekg(0, std::ios::end);
    const auto size = in.tellg();
    in.seekg(0, std::ios::beg);
    if (size >= 0) {
      text.resize(static_cast<std::size_t>(size));
      in.read(text.data(), size);
      if (in && in.gcount() == size) return text;
    }
  }
  const int err = errno;
  error = Status(StatusCode::kIoError,
                 fmt::format("cannot read '{}': {}", path, err != 0 ? std::generic_category().message(err) : "read failed"));
  return std::nullopt;
}

Status write_text_file(const std::string& path, std::string_view text) {
  errno = 0;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out) {
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (out) return Status::Ok();
  }
  const int err = errno;
  return Status(StatusCode::kIoError,
                fmt::format("cannot write '{}': {}", path, err != 0 ? std::generic_category().message(err) : "write failed"));
}

// ---- writing --------------------------------------------------------------------------------------------

namespace {

constexpr std::size_t kLineWidth = 100;

// Rewrites fmt's shortest round-trip text of a double in the form people write: "3.12e14" rather than
// "312000000000000", "2e-6" rather than "2e-06". The digits are kept, so the value is exactly the same.
// `text` has room for 8 more characters.
std::string_view tidy_number(char* text, std::size_t size) {
  std::string_view t(text, size);
  if (const auto e = t.find('e'); e != std::string_view::npos) {
    std::size_t from = e + 1, to = e + 1;
    if (text[from] == '-') text[to++] = text[from++];
    else if (text[from] == '+') ++from;
    while (from + 1 < size && text[from] == '0') ++from;
    while (from < size) text[to++] = text[from++];
    return {text, to};
  }
  if (t.find('.') != std::string_view::npos) return t;
  const std::size_t sign = t.front() == '-' ? 1 : 0;
  const std::size_t last = t.find_last_not_of('0');
  const std::size_t zeros = size - 1 - last;
  if (zeros < 5) return t;  // 65536000 stays as it is
  const std::size_t exponent = size - sign - 1;
  std::string out(t.substr(0, sign + 1));
  if (last > sign) out += '.' + std::string(t.substr(sign + 1, last - sign));
  out += 'e' + std::to_string(exponent);
  std::copy(out.begin(), out.end(), text);
  return {text, out.size()};
}

}  // namespace

JsonWriter& JsonWriter::open(char bracket, Layout layout) {
  before_item(1);
  out_ += bracket;
  // Inside a one-line container everything stays on that line.
  if (!stack_.empty() && stack_.back().layout == Layout::kOneLine) layout = Layout::kOneLine;
  stack_.push_back({layout});
  return *this;
}

JsonWriter& JsonWriter::close(char bracket) {
  const Level level = stack_.back();
  stack_.pop_back();
  if (!level.empty && level.layout != Layout::kOneLine) newline(stack_.size());
  out_ += bracket;
  return *this;
}

void JsonWriter::newline(std::size_t depth) {
  if (indent_ < 0) return;
  out_ += '\n';
  line_start_ = out_.size();
  out_.append(depth * static_cast<std::size_t>(indent_), ' ');
}

void JsonWriter::before_item(std::size_t next_size) {
  if (after_key_) {  // the value of a member: goes right after "key": on the same line
    after_key_ = false;
    return;
  }
  if (stack_.empty()) return;
  Level& level = stack_.back();
  const bool first = level.empty;
  level.empty = false;
  if (!first) out_ += ',';
  switch (level.layout) {
    case Layout::kExpanded: newline(stack_.size()); break;
    case Layout::kOneLine:
      if (!first && indent_ >= 0) out_ += ' ';
      break;
    case Layout::kWrapped:
      if (first || out_.size() - line_start_ + 1 + next_size > kLineWidth) newline(stack_.size());
      else if (indent_ >= 0) out_ += ' ';
      break;
  }
}

JsonWriter& JsonWriter::key(std::string_view name) {
  value(name);  // placed like an element: separator and line break first
  out_ += indent_ < 0 ? ":" : ": ";
  after_key_ = true;
  return *this;
}

void JsonWriter::scalar(std::string_view text) {
  before_item(text.size());
  out_ += text;
}

JsonWriter& JsonWriter::value(double v) {
  char buffer[32];
  if (std::isnan(v)) {
    scalar("null");
  } else if (std::isinf(v)) {
    scalar(v > 0 ? "1e999" : "-1e999");
  } else if (v == 0) {
    // -0.0 as well: "-0" is not a number every reader takes back as the same value, and the formats
    // have no use for the sign of zero (the readers normalise it too).
    scalar("0");
  } else {
    // fmt prints the shortest digits that read back as exactly this double.
    const auto end = fmt::format_to_n(buffer, sizeof buffer - 8, "{}", v).out;
    scalar(tidy_number(buffer, static_cast<std::size_t>(end - buffer)));
  }
  return *this;
}

JsonWriter& JsonWriter::value(std::int64_t v) {
  char buffer[24];
  const auto end = fmt::format_to_n(buffer, sizeof buffer, "{}", v).out;
  scalar(std::string_view(buffer, static_cast<std::size_t>(end - buffer)));
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view v) {
  const bool plain = std::all_of(v.begin(), v.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x80 && c != '"' && c != '\\';
  });
  if (plain) {
    before_item(v.size() + 2);
    out_ += '"';
    out_ += v;
    out_ += '"';
  } else {
    // Rare: let nlohmann escape it. Invalid UTF-8 is replaced by U+FFFD rather than making writing fail.
    scalar(Json(std::string(v)).dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  return *this;
}

std::string JsonWriter::finish() {
  if (indent_ >= 0) out_ += '\n';
  return std::move(out_);
}

}  // namespace detail
OPPLAN_END_NAMESPACE
