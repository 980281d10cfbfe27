// The configuration search's reports (config_search.hpp).
#include <opplan/config_search.hpp>

#include <string>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

namespace {

std::string gb(double bytes) { return fmt::format("{:.1f} GB", bytes / 1e9); }

std::string line(const ConfigCandidate& c) {
  if (c.iteration_seconds <= 0) return fmt::format("{}: {}", c.config.ToString(), c.verdict);
  return fmt::format("{}: {:.4g} s, {} of {}; {}", c.config.ToString(), c.iteration_seconds, gb(c.memory_bytes),
                     gb(c.capacity_bytes), c.verdict);
}

}  // namespace

std::string ConfigSearchResult::BriefReport() const {
  return fmt::format("{}: {:.4g} s per iteration, MFU {:.1f} %, {} of {}; {} candidates ({} over memory), {} evaluated "
                     "in {:.2f} s{}",
                     best.config.ToString(), best.iteration_seconds, 100 * best.mfu, gb(best.peak_memory.total()),
                     ranked.empty() ? std::string("?") : gb(ranked.front().capacity_bytes), enumerated, pruned_memory,
                     evaluated, seconds, complete ? "" : " (stopped early: the best found so far)");
}

std::string ConfigSearchResult::FullReport() const {
  std::string s = BriefReport() + "\n\nchosen:\n" + best.FullReport() + "\n";
  s += fmt::format("\nsearch: global batch {}, {} candidates: {} over memory by their bound, {} evaluated ({} could not "
                   "run), {} left by the time bound; {} layer costings; {:.2f} s{}\n",
                   global_batch, enumerated, pruned_memory, evaluated, failed, pruned_bound, layer_costings, seconds,
                   complete ? "" : "; stopped early");
  return s + ComparisonReport();
}

std::string ConfigSearchResult::ComparisonReport() const {
  std::string s;
  if (ranked.size() > 1) {
    s += "runners-up:\n";
    for (std::size_t i = 1; i < ranked.size(); ++i) s += "  " + line(ranked[i]) + "\n";
  }
  if (!too_big.empty()) {
    s += "faster but over memory:\n";
    for (const auto& c : too_big) s += "  " + line(c) + "\n";
  }
  if (data_parallel) s += "plain data parallelism:\n  " + line(*data_parallel) + "\n";
  if (!references.empty()) {
    s += "references:\n";
    for (const auto& c : references) s += "  " + line(c) + "\n";
  }
  return s;
}

OPPLAN_END_NAMESPACE
