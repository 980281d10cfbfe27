// The op-string notation: "F3a", "b0b", "W6a", "B3b", "F7a&B3b".
#include <fmt/format.h>

#include <cctype>

#include "pipeline/pipeline_internal.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

std::optional<Work> work_of_letter(char c) {
  switch (c) {
    case 'F': return Work::kForward;
    case 'b': return Work::kInputGrad;
    case 'W': return Work::kWeightGrad;
    case 'B': return Work::kBackward;
    default: return std::nullopt;
  }
}

std::string chunk_letters(int chunk) {
  std::string letters;
  int c = chunk;
  do {
    letters.insert(letters.begin(), static_cast<char>('a' + c % 26));
    c = c / 26 - 1;
  } while (c >= 0);
  return letters;
}

// a -> 0, z -> 25, aa -> 26, ...
int chunk_of_letters(std::string_view s) {
  long long v = 0;
  for (char c : s) {
    v = v * 26 + (c - 'a' + 1);
    if (v > 1'000'000) return -1;
  }
  return static_cast<int>(v - 1);
}

}  // namespace

std::string op_string(const PipelineSpec& spec, const OrderEntry& entry) {
  const std::vector<int> chunks = detail::chunk_table(spec);
  std::string out = detail::label(chunks, spec.num_stages(), entry.item);
  if (entry.overlapped) {
    out += '&';
    out += detail::label(chunks, spec.num_stages(), *entry.overlapped);
  }
  return out;
}

std::vector<std::string> format_orders(const PipelineSpec& spec, const PipelineOrders& orders) {
  Schedule names;  // only for its labels
  names.num_stages = spec.num_stages();
  names.chunk_of = detail::chunk_table(spec);
  std::vector<std::string> out;
  out.reserve(orders.devices.size());
  for (const auto& program : orders.devices) {
    std::string line;
    for (const OrderEntry& e : program) {
      if (!line.empty()) line += ' ';
      line += names.label(e.item);
      if (e.overlapped) {
        line += '&';
        line += names.label(*e.overlapped);
      }
    }
    out.push_back(std::move(line));
  }
  return out;
}

Result<PipelineOrders> parse_orders(const PipelineSpec& spec, const std::vector<std::string>& programs) {
  if (Status s = spec.validate(); !s.ok()) return s;
  if (programs.size() != static_cast<std::size_t>(spec.num_devices))
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("{} device programs given, the spec has {} devices", programs.size(), spec.num_devices));
  std::vector<std::string> problems;
  PipelineOrders out;
  out.devices.resize(programs.size());
  for (int d = 0; d < spec.num_devices; ++d) {
    const auto chunks = spec.device_chunks(d);
    const std::string& text = programs[static_cast<std::size_t>(d)];
    std::size_t pos = 0, position = 0;
    while (pos < text.size()) {
      while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
      if (pos >= text.size()) break;
      std::size_t end = pos;
      while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
      const std::string_view token(text.data() + pos, end - pos);
      pos = end;
      const auto fail = [&](const std::string& why) {
        if (problems.size() < 50) problems.push_back(fmt::format("device {}, op {} '{}': {}", d, position, token, why));
      };
      // One or two parts joined by '&'.
      std::optional<WorkItem> parts[2];
      std::size_t start = 0;
      bool ok = true;
      for (int p = 0; p < 2 && ok; ++p) {
        const std::size_t amp = token.find('&', start);
        const std::string_view part =
            token.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
        if (part.empty()) {
          fail("empty op (expected e.g. F3a, b0, W2b, B1 or F7a&B3b)");
          ok = false;
          break;
        }
        const auto work = work_of_letter(part[0]);
        if (!work) {
          fail(fmt::format("unknown kind '{}' (F forward, b input-gradient, W weight-gradient, B full backward)",
                           part[0]));
          ok = false;
          break;
        }
        std::size_t i = 1;
        long long mb = 0;
        while (i < part.size() && std::isdigit(static_cast<unsigned char>(part[i])) && mb < 100'000'000)
          mb = mb * 10 + (part[i++] - '0');
        if (i == 1) {
          fail("a micro-batch number must follow the kind");
          ok = false;
          break;
        }
        const std::string_view letters = part.substr(i);
        for (char c : letters)
          if (c < 'a' || c > 'z') {
            fail(fmt::format("unexpected '{}' after the micro-batch (chunk letters are a, b, ...)", c));
            ok = false;
            break;
          }
        if (!ok) break;
        int chunk = 0;
        if (letters.empty()) {
          if (chunks.size() != 1) {
            fail(fmt::format("device {} holds {} chunks: name one with a letter (a..{})", d, chunks.size(),
                             chunk_letters(static_cast<int>(chunks.size()) - 1)));
            ok = false;
            break;
          }
        } else {
          chunk = chunk_of_letters(letters);
          if (chunk < 0 || static_cast<std::size_t>(chunk) >= chunks.size()) {
            fail(fmt::format("device {} has no chunk '{}' (it holds {}: a..{})", d, letters, chunks.size(),
                             chunk_letters(static_cast<int>(chunks.size()) - 1)));
            ok = false;
            break;
          }
        }
        const auto [route, stage] = chunks[static_cast<std::size_t>(chunk)];
        parts[p] = WorkItem{*work, route, static_cast<int>(mb), stage};
        if (amp == std::string_view::npos) break;
        start = amp + 1;
        if (p == 1) {
          fail("at most two ops can share a slot");
          ok = false;
        }
      }
      ++position;
      if (!ok) continue;
      out.devices[static_cast<std::size_t>(d)].push_back(OrderEntry{*parts[0], parts[1]});
    }
  }
  if (!problems.empty()) {
    std::string message =
        problems.size() == 1 ? problems[0] : fmt::format("{} problems in the device programs:", problems.size());
    if (problems.size() > 1)
      for (const auto& p : problems) message.append("\n  ").append(p);
    return Status(StatusCode::kInvalidArgument, std::move(message));
  }
  return out;
}

OPPLAN_END_NAMESPACE
