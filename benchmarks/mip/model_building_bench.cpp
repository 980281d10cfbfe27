// Question: is building large models cheap enough that formulations never wait on MipModel?
// Target (issue 3): a 10^6-nonzero model builds fast, with no per-row heap churn.
// Baseline in the same process: filling plain CSR arrays with the same numbers (the floor for any
// model builder), so the reported ratio is MipModel's overhead over raw arrays.
#include <opplan/mip_model.hpp>

#include <random>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

constexpr int kRows = 100'000;
constexpr int kTermsPerRow = 10;  // 10^6 nonzeros
constexpr int kVars = 50'000;

std::vector<int> random_columns() {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> col(0, kVars - 1);
  std::vector<int> cols(static_cast<std::size_t>(kRows) * kTermsPerRow);
  for (int& c : cols) c = col(rng);
  return cols;
}

const std::vector<int>& columns() {
  static const std::vector<int> cols = random_columns();
  return cols;
}

void set_counters(benchmark::State& state) {
  state.counters["nonzeros"] = static_cast<double>(kRows) * kTermsPerRow;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kRows * kTermsPerRow);
}

void BM_BaselineRawCsrArrays(benchmark::State& state) {
  const auto& cols = columns();
  for (auto _ : state) {
    std::vector<double> lo(kVars, 0.0), up(kVars, 1.0), rlo, rup;
    std::vector<std::size_t> start{0};
    std::vector<std::uint32_t> idx;
    std::vector<double> val;
    idx.reserve(cols.size());
    val.reserve(cols.size());
    for (int r = 0; r < kRows; ++r) {
      for (int k = 0; k < kTermsPerRow; ++k) {
        idx.push_back(static_cast<std::uint32_t>(cols[static_cast<std::size_t>(r) * kTermsPerRow + k]));
        val.push_back(1.0 + k);
      }
      rlo.push_back(-opplan::kInf);
      rup.push_back(10.0);
      start.push_back(idx.size());
    }
    benchmark::DoNotOptimize(val.data());
  }
  set_counters(state);
}

void BM_BuildWithPointerRows(benchmark::State& state) {
  const auto& cols = columns();
  for (auto _ : state) {
    opplan::MipModel model("bench");
    model.reserve(kVars, kRows, cols.size());
    std::vector<opplan::Var> x;
    x.reserve(kVars);
    for (int j = 0; j < kVars; ++j) x.push_back(model.add_binary());
    opplan::Var vars[kTermsPerRow];
    double coefs[kTermsPerRow];
    for (int r = 0; r < kRows; ++r) {
      for (int k = 0; k < kTermsPerRow; ++k) {
        vars[k] = x[static_cast<std::size_t>(cols[static_cast<std::size_t>(r) * kTermsPerRow + k])];
        coefs[k] = 1.0 + k;
      }
      model.add_row(-opplan::kInf, 10.0, vars, coefs, kTermsPerRow);
    }
    benchmark::DoNotOptimize(model.num_nonzeros());
  }
  set_counters(state);
}

void BM_BuildWithReusedExpression(benchmark::State& state) {
  const auto& cols = columns();
  for (auto _ : state) {
    opplan::MipModel model("bench");
    model.reserve(kVars, kRows, cols.size());
    std::vector<opplan::Var> x;
    x.reserve(kVars);
    for (int j = 0; j < kVars; ++j) x.push_back(model.add_binary());
    opplan::BoundedExpr row;
    row.upper = 10.0;
    for (int r = 0; r < kRows; ++r) {
      row.expr.clear();  // keeps capacity: no allocation per row
      for (int k = 0; k < kTermsPerRow; ++k)
        row.expr.add(x[static_cast<std::size_t>(cols[static_cast<std::size_t>(r) * kTermsPerRow + k])], 1.0 + k);
      model.add_row(row);
    }
    benchmark::DoNotOptimize(model.num_nonzeros());
  }
  set_counters(state);
}

void BM_BuildWithOperatorSyntax(benchmark::State& state) {
  const auto& cols = columns();
  for (auto _ : state) {
    opplan::MipModel model("bench");
    model.reserve(kVars, kRows, cols.size());
    std::vector<opplan::Var> x;
    x.reserve(kVars);
    for (int j = 0; j < kVars; ++j) x.push_back(model.add_binary());
    for (int r = 0; r < kRows; ++r) {
      const std::size_t b = static_cast<std::size_t>(r) * kTermsPerRow;
      opplan::LinearExpr e = 1.0 * opplan::LinearExpr(x[cols[b]]);
      for (int k = 1; k < kTermsPerRow; ++k) e += (1.0 + k) * opplan::LinearExpr(x[cols[b + k]]);
      model.add_row(e <= 10.0);
    }
    benchmark::DoNotOptimize(model.num_nonzeros());
  }
  set_counters(state);
}

BENCHMARK(BM_BaselineRawCsrArrays)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BuildWithPointerRows)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BuildWithReusedExpression)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BuildWithOperatorSyntax)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
