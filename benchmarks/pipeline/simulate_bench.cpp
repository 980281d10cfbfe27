// Question: is the simulator + verifier fast enough to judge every plan, even large ones?
// Target (issue 4): simulate and verify a 64-stage, 1024-micro-batch 1F1B schedule in under 0.5 s
// on one core. 1F1B with a fused backward has 131,072 ops; with the backward split into b and W
// (ZB-H1's programs, same pipeline) it has 196,608 — "about 200,000" — so both are measured.
//
// Baseline in the same process: generating the per-device orders only (the least any schedule
// costs to produce), so the ratios simulate / generate and verify / generate survive machine drift.
#include <benchmark/benchmark.h>

#include <opplan/pipeline.hpp>
#include <opplan/simulator.hpp>

namespace {

constexpr int kStages = 64;
constexpr int kMicroBatches = 1024;

const opplan::PipelineSpec& spec() {
  static const opplan::PipelineSpec s = [] {
    opplan::StageSpec st;
    st.forward = 1;
    st.input_grad = 1;
    st.weight_grad = 1;
    st.p2p = 0.05;  // transfers on every stage boundary, so the delays are exercised
    return opplan::make_pipeline_spec(opplan::Placement::kLinear, kStages, kMicroBatches, st).value();
  }();
  return s;
}

opplan::ScheduleKind kind(const benchmark::State& state) {
  return state.range(0) == 0 ? opplan::ScheduleKind::k1F1B : opplan::ScheduleKind::kZBH1;
}

void label(benchmark::State& state, std::size_t ops) {
  state.SetLabel(state.range(0) == 0 ? "1f1b" : "zb-h1 (split backward)");
  state.counters["ops"] = static_cast<double>(ops);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(ops));
}

void BM_BaselineGenerateOrders(benchmark::State& state) {
  std::size_t ops = 0;
  for (auto _ : state) {
    auto orders = opplan::generate_orders(spec(), kind(state));
    ops = orders->num_entries();
    benchmark::DoNotOptimize(orders);
  }
  label(state, ops);
}

void BM_Simulate(benchmark::State& state) {
  const auto orders = opplan::generate_orders(spec(), kind(state)).value();
  for (auto _ : state) {
    auto schedule = opplan::simulate(spec(), orders);
    benchmark::DoNotOptimize(schedule);
  }
  label(state, orders.num_entries());
}

void BM_Verify(benchmark::State& state) {
  const auto orders = opplan::generate_orders(spec(), kind(state)).value();
  const auto schedule = opplan::simulate(spec(), orders).value();
  for (auto _ : state) {
    auto report = opplan::verify(spec(), schedule);
    if (!report.ok()) state.SkipWithError("the schedule does not verify");
    benchmark::DoNotOptimize(report);
  }
  label(state, orders.num_entries());
}

// The target: from orders to a verified schedule.
void BM_SimulateAndVerify(benchmark::State& state) {
  const auto orders = opplan::generate_orders(spec(), kind(state)).value();
  for (auto _ : state) {
    auto schedule = opplan::simulate(spec(), orders);
    auto report = opplan::verify(spec(), *schedule);
    if (!report.ok()) state.SkipWithError("the schedule does not verify");
    benchmark::DoNotOptimize(report);
  }
  label(state, orders.num_entries());
}

BENCHMARK(BM_BaselineGenerateOrders)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Simulate)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Verify)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SimulateAndVerify)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
