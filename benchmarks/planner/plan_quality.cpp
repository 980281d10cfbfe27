// Question: how good are the planner's plans against 1F1B, ZB-H1 and DualPipe, and how far from the
// lower bound? The sweep of issue 5: PP in {4, 8, 16}, N in {2P, 3P, 4P}, F:b:W in {1:1:1,
// 1:1.5:0.5, 2:1:1}, p2p 0 and 10 % of F. Each baseline runs on its own placement; the planner
// plans the same placement under a memory cap equal to the baseline's own peak.
//
// Usage: bench_plan_quality [time limit per plan in s, default 1] [max PP, default 16] [filter] [lp]
// Prints a Markdown table and a summary line (cases never worse, cases within 1 % of the bound).
// `filter` keeps only the cases whose key "<baseline> <PP> <N> <F:b:W> <p2p>" (e.g. "dualpipe 4 8
// 1:1.5:0.5 0.1") contains it, so one placement or one case can be re-measured alone. `lp` also
// solves the LP relaxation of each case's whole-instance MIP (PlannerOptions::lp_bound) and
// counts the cases where it is above the combinatorial bound (pipeline_lower_bound).
//
// Second question: how does the planner scale? `bench_plan_quality scaling [seconds, default 2]`
// plans a linear PP-8 pipeline (F:b:W 2:1:1, p2p 0.2, 1F1B memory) with 10^2 to 10^5 operator
// instances at a fixed time budget and prints the gap reached and the wall time.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <cstdlib>
#include <opplan/pipeline.hpp>
#include <opplan/planner.hpp>
#include <opplan/simulator.hpp>
#include <string>

namespace {

int scaling(double time_limit) {
  fmt::print("| instances | micro-batches | makespan | bound | gap % | from | MIP solves | seconds |\n"
             "|---|---|---|---|---|---|---|---|\n");
  for (int n : {4, 42, 416, 4166}) {
    opplan::StageSpec st;
    st.forward = 2;
    st.input_grad = 1;
    st.weight_grad = 1;
    st.p2p = 0.2;
    auto spec = opplan::make_pipeline_spec(opplan::Placement::kLinear, 8, n, st, 1, 8.0);
    if (!spec.ok()) return 1;
    opplan::PlannerOptions options;
    options.time_limit = time_limit;
    auto plan = opplan::plan_pipeline(*spec, options);
    if (!plan.ok()) {
      fmt::print("| {} | {} | error: {} |\n", 3 * 8 * n, n, plan.status().message());
      continue;
    }
    fmt::print("| {} | {} | {:g} | {:g} | {:.2f} | {} | {} | {:.2f} |\n", 3 * 8 * n, n, plan->makespan,
               plan->lower_bound, 100 * plan->gap, plan->source, plan->mip_solves, plan->solve_seconds);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "scaling") return scaling(argc > 2 ? std::atof(argv[2]) : 2.0);
  const double time_limit = argc > 1 ? std::atof(argv[1]) : 1.0;
  const int max_pp = argc > 2 ? std::atoi(argv[2]) : 16;
  const std::string filter = argc > 3 ? argv[3] : "";
  const bool lp = argc > 4 && std::string(argv[4]) == "lp";
  int lp_solved = 0, lp_above = 0;
  double lp_best_ratio = 0;  // the largest LP relaxation / combinatorial bound
  struct Ratio {
    double f, b, w;
  };
  const Ratio ratios[] = {{1, 1, 1}, {1, 1.5, 0.5}, {2, 1, 1}};
  const opplan::ScheduleKind kinds[] = {opplan::ScheduleKind::k1F1B, opplan::ScheduleKind::kZBH1,
                                        opplan::ScheduleKind::kDualPipe};
  fmt::print("| PP | N | F:b:W | p2p | baseline | cap | baseline makespan | plan makespan | plan peak | bound | gap % "
             "| from | seconds |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  int cases = 0, never_worse = 0, within_1pct = 0;
  // Per baseline: cases, strictly better, sum of planner / baseline, sum of gaps, within 1 %, seconds.
  struct Tally {
    int cases = 0, better = 0, within = 0;
    double ratio = 0, gap = 0, seconds = 0, worst_seconds = 0;
  };
  std::map<std::string, Tally> tally;
  for (int pp : {4, 8, 16}) {
    if (pp > max_pp) continue;
    for (int n : {2 * pp, 3 * pp, 4 * pp})
      for (const Ratio& r : ratios)
        for (double p2p_share : {0.0, 0.1})
          for (opplan::ScheduleKind kind : kinds) {
            opplan::StageSpec st;
            st.forward = r.f;
            st.input_grad = r.b;
            st.weight_grad = r.w;
            st.p2p = p2p_share * r.f;
            const std::string key = fmt::format("{} {} {} {}:{}:{} {}", opplan::to_string(kind), pp, n, r.f, r.b, r.w, st.p2p);
            if (key.find(filter) == std::string::npos) continue;
            auto spec = opplan::make_pipeline_spec(opplan::required_placement(kind), pp, n, st);
            if (!spec.ok()) continue;
            auto baseline = opplan::build_schedule(*spec, kind);
            if (!baseline.ok()) continue;
            double cap = 0;
            for (const auto& d : baseline->metrics.devices) cap = std::max(cap, d.peak_memory);
            spec->memory_cap = {cap};
            opplan::PlannerOptions options;
            options.time_limit = time_limit;
            options.lp_bound = lp;
            auto plan = opplan::plan_pipeline(*spec, options);
            if (lp && plan.ok() && plan->lp_bound > 0) {
              const double combinatorial = *opplan::pipeline_lower_bound(*spec);
              ++lp_solved;
              if (plan->lp_bound > combinatorial * (1 + 1e-9)) ++lp_above;
              lp_best_ratio = std::max(lp_best_ratio, plan->lp_bound / combinatorial);
            }
            ++cases;
            if (!plan.ok()) {
              fmt::print("| {} | {} | {}:{}:{} | {} | {} | {} | {} | error: {} |\n", pp, n, r.f, r.b, r.w, st.p2p,
                         opplan::to_string(kind), cap, baseline->metrics.makespan, plan.status().message());
              continue;
            }
            double peak = 0;
            for (const auto& d : plan->schedule.metrics.devices) peak = std::max(peak, d.peak_memory);
            if (plan->makespan <= baseline->metrics.makespan + 1e-9) ++never_worse;
            if (plan->gap <= 0.01) ++within_1pct;
            Tally& t = tally[opplan::to_string(kind)];
            ++t.cases;
            if (plan->makespan < baseline->metrics.makespan - 1e-9) ++t.better;
            if (plan->gap <= 0.01) ++t.within;
            t.ratio += plan->makespan / baseline->metrics.makespan;
            t.gap += plan->gap;
            t.seconds += plan->solve_seconds;
            t.worst_seconds = std::max(t.worst_seconds, plan->solve_seconds);
            fmt::print("| {} | {} | {}:{}:{} | {} | {} | {} | {} | {} | {} | {:.4g} | {:.2f} | {} | {:.2f} |\n", pp, n,
                       r.f, r.b, r.w, st.p2p, opplan::to_string(kind), cap, baseline->metrics.makespan, plan->makespan,
                       peak, plan->lower_bound, 100 * plan->gap, plan->source, plan->solve_seconds);
            std::fflush(stdout);
          }
  }
  fmt::print("\n| baseline | cases | planner strictly better | mean planner / baseline | mean gap to bound | within 1 % "
             "of the bound | mean s per plan | max s |\n|---|---|---|---|---|---|---|---|\n");
  for (const auto& [name, t] : tally)
    fmt::print("| {} | {} | {} | {:.3f} | {:.2f} % | {} | {:.2f} | {:.2f} |\n", name, t.cases, t.better,
               t.ratio / std::max(1, t.cases), 100 * t.gap / std::max(1, t.cases), t.within,
               t.seconds / std::max(1, t.cases), t.worst_seconds);
  fmt::print("\n{} cases: never worse than the baseline in {}, within 1 % of the bound in {} ({:.0f} %)\n", cases,
             never_worse, within_1pct, cases ? 100.0 * within_1pct / cases : 0.0);
  if (lp)
    fmt::print("LP relaxation solved in {} cases (the others: at the bound before it, too large, or out of time); "
               "above the combinatorial bound in {}; largest LP / bound {:.4f}\n",
               lp_solved, lp_above, lp_best_ratio);
  return never_worse == cases ? 0 : 1;
}
