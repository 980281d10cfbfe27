// Question: do the foundation's graph operations scale to compiler-sized graphs?
// Target (issue 2): on a synthetic 100,000-op / 200,000-edge graph, building, validating,
// topological sorting, the critical path and loading from JSON each take under 1 s on one core.
//
// The synthetic graph is a random layered DAG: op i gets two edges from ops in the window
// [i - 64, i), which gives long dependency chains and a realistic fan-in of 2.
// Baselines in the same process, for ratios that survive machine drift:
//  - BM_BaselineCopyArrays: copying the same payload as plain arrays (what building costs at least);
//  - BM_BaselineJsonDomParse: nlohmann_json parsing the text to a DOM, without building a Graph
//    (what loading costs at least with this JSON library).
#include <opplan/opplan.hpp>

#include <map>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

namespace {

struct Spec {
  std::vector<opplan::Op> ops;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> edges;
};

const Spec& spec(std::size_t num_ops) {
  static std::map<std::size_t, Spec> cache;
  auto it = cache.find(num_ops);
  if (it != cache.end()) return it->second;
  Spec s;
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> flops(1e6, 1e9);
  s.ops.reserve(num_ops);
  for (std::size_t i = 0; i < num_ops; ++i) {
    opplan::Op op;
    op.name = "op" + std::to_string(i);
    op.kind = (i % 3 == 0) ? "matmul" : "elementwise";
    op.forward.flops = flops(rng);
    op.forward.bytes = op.forward.flops / 10;
    op.input_grad.flops = op.forward.flops;
    op.weight_grad.flops = (i % 3 == 0) ? op.forward.flops : 0;
    op.param_bytes = (i % 3 == 0) ? 4096.0 * 4096 * 2 : 0;
    op.activation_bytes = 1 << 20;
    op.shape = {8, 1024, 1024};
    op.dtype = opplan::DType::kBF16;
    op.dims = "b s h, h o -> b s o";
    op.layer = "layer" + std::to_string(i / 1000);
    s.ops.push_back(std::move(op));
  }
  s.edges.reserve(2 * num_ops);
  for (std::size_t i = 1; i < num_ops && s.edges.size() < 2 * num_ops; ++i) {
    const std::size_t window = std::min<std::size_t>(i, 64);
    std::uniform_int_distribution<std::size_t> back(1, window);
    const std::size_t a = i - back(rng), b = i - back(rng);
    s.edges.emplace_back(static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(i));
    if (b != a) s.edges.emplace_back(static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(i));
  }
  // Top up to exactly 2 edges per op on average.
  std::uniform_int_distribution<std::size_t> any(0, num_ops - 2);
  while (s.edges.size() < 2 * num_ops) {
    const std::size_t a = any(rng);
    s.edges.emplace_back(static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(a + 1));
  }
  return cache.emplace(num_ops, std::move(s)).first->second;
}

opplan::Graph build(const Spec& s) {
  opplan::Graph g("synthetic");
  g.reserve(s.ops.size(), s.edges.size());
  for (const auto& op : s.ops) g.add_op(op);
  for (auto [a, b] : s.edges) g.add_edge(opplan::OpId(a), opplan::OpId(b), 1 << 20);
  return g;
}

const opplan::Graph& graph(std::size_t n) {
  static std::map<std::size_t, opplan::Graph> cache;
  auto it = cache.find(n);
  if (it == cache.end()) it = cache.emplace(n, build(spec(n))).first;
  return it->second;
}

const std::string& json_text(std::size_t n) {
  static std::map<std::size_t, std::string> cache;
  auto it = cache.find(n);
  if (it == cache.end()) it = cache.emplace(n, opplan::graph_to_json(graph(n), -1)).first;
  return it->second;
}

void set_counters(benchmark::State& state, std::size_t n) {
  state.counters["ops"] = static_cast<double>(n);
  state.counters["edges"] = static_cast<double>(spec(n).edges.size());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
}

void BM_BuildGraph(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const Spec& s = spec(n);
  for (auto _ : state) benchmark::DoNotOptimize(build(s));
  set_counters(state, n);
}

void BM_BaselineCopyArrays(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const Spec& s = spec(n);
  for (auto _ : state) {
    Spec copy = s;
    benchmark::DoNotOptimize(copy);
  }
  set_counters(state, n);
}

void BM_Validate(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& g = graph(n);
  for (auto _ : state) {
    auto status = g.validate();
    if (!status.ok()) state.SkipWithError(status.message().c_str());
    benchmark::DoNotOptimize(status);
  }
  set_counters(state, n);
}

void BM_TopologicalOrder(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& g = graph(n);
  for (auto _ : state) {
    auto order = g.topological_order();
    if (!order.ok()) state.SkipWithError(order.status().message().c_str());
    benchmark::DoNotOptimize(order);
  }
  set_counters(state, n);
}

void BM_CriticalPath(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& g = graph(n);
  for (auto _ : state) {
    auto cp = g.critical_path([&](opplan::OpId id) { return g.op(id).forward.flops; },
                              [&](opplan::EdgeId e) { return g.edge(e).bytes * 1e-3; });
    if (!cp.ok()) state.SkipWithError(cp.status().message().c_str());
    benchmark::DoNotOptimize(cp);
  }
  set_counters(state, n);
}

void BM_ParseGraphJson(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::string& text = json_text(n);
  for (auto _ : state) {
    auto g = opplan::parse_graph_json(text, "synthetic.json");
    if (!g.ok()) state.SkipWithError(g.status().message().c_str());
    benchmark::DoNotOptimize(g);
  }
  set_counters(state, n);
  state.counters["MB"] = static_cast<double>(text.size()) / 1e6;
}

void BM_BaselineJsonDomParse(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::string& text = json_text(n);
  for (auto _ : state) benchmark::DoNotOptimize(nlohmann::json::parse(text));
  set_counters(state, n);
}

void BM_WriteGraphJson(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& g = graph(n);
  for (auto _ : state) benchmark::DoNotOptimize(opplan::graph_to_json(g, -1));
  set_counters(state, n);
}

constexpr std::int64_t kSmall = 10'000;
constexpr std::int64_t kTarget = 100'000;

BENCHMARK(BM_BaselineCopyArrays)->Arg(kSmall)->Arg(kTarget)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BuildGraph)->Arg(kSmall)->Arg(kTarget)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Validate)->Arg(kSmall)->Arg(kTarget)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TopologicalOrder)->Arg(kSmall)->Arg(kTarget)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CriticalPath)->Arg(kSmall)->Arg(kTarget)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BaselineJsonDomParse)->Arg(kSmall)->Arg(kTarget)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ParseGraphJson)->Arg(kSmall)->Arg(kTarget)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WriteGraphJson)->Arg(kSmall)->Arg(kTarget)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
