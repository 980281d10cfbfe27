// search_parallel_configs() and plan()'s parallel-config strategy: the chosen configuration is
// evaluate()'s own figures, nothing in a brute-force grid that fits beats it, the thread count
// does not change it, a smaller memory never yields a configuration that does not fit, and bad
// input is named.
#include <opplan/opplan.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace {

using opplan::ActivationRecompute;
using opplan::Cluster;
using opplan::ConfigSearchOptions;
using opplan::Graph;
using opplan::ParallelConfig;
using opplan::PipelineSchedule;
using ::testing::HasSubstr;

Graph small_gpt() {
  auto g = opplan::zoo_model("gpt:hidden=1024,layers=8,heads=16,seq=1024,vocab=32000,dtype=bf16");
  EXPECT_TRUE(g.ok()) << g.status().to_string();
  return g.ok() ? *g : Graph("none");
}

TEST(ConfigSearch, ChosenConfigurationIsEvaluatesOwnFiguresAndBeatsEveryFittingGridPoint) {
  const Graph g = small_gpt();
  const Cluster c = Cluster::dgx_a100();
  const opplan::AnalyticCostModel cm;
  ConfigSearchOptions o;
  o.global_batch = 32;
  o.threads = 1;
  auto r = opplan::search_parallel_configs(g, c, cm, o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_TRUE(r->best.fits);
  auto again = opplan::evaluate(g, c, r->best.config, cm);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_DOUBLE_EQ(again->iteration_seconds, r->best.iteration_seconds);
  EXPECT_DOUBLE_EQ(again->peak_memory.total(), r->best.peak_memory.total());
  EXPECT_GT(r->evaluated, 0);
  EXPECT_GT(r->pruned_bound, 0) << "the bound should leave most of the space unevaluated";
  EXPECT_LE(r->lower_bound, r->best.iteration_seconds);

  // Every point of a grid inside the space, evaluated by the public evaluate(): none that fits is
  // faster. A bound that wrongly pruned a better configuration fails here.
  int checked = 0;
  for (int tp : {1, 2, 4, 8})
    for (int pp : {1, 2, 4, 8})
      for (int cp : {1, 2})
        for (int zero : {0, 1, 2, 3})
          for (int mbs : {1, 2, 4})
            for (auto sched : {PipelineSchedule::k1F1B, PipelineSchedule::kZBH1, PipelineSchedule::kInterleaved,
                               PipelineSchedule::kZBV, PipelineSchedule::kDualPipe, PipelineSchedule::kDualPipeV})
              for (auto rc : {ActivationRecompute::kNone, ActivationRecompute::kFull}) {
                ParallelConfig p;
                p.tp = tp, p.pp = pp, p.cp = cp;
                if (8 % (tp * pp * cp) != 0) continue;
                p.dp = 8 / (tp * pp * cp);
                if (32 % (p.dp * mbs) != 0 || (pp == 1 && sched != PipelineSchedule::k1F1B)) continue;
                const bool two_chunks = sched == PipelineSchedule::kInterleaved || sched == PipelineSchedule::kZBV ||
                                        sched == PipelineSchedule::kDualPipeV;
                p.vpp = two_chunks ? 2 : 1;
                if (pp * p.vpp > 8) continue;
                p.zero = p.dp > 1 ? zero : 0;
                p.micro_batch_size = mbs, p.global_batch = 32, p.schedule = sched, p.recompute = rc;
                p.flash_attention = true;
                auto ev = opplan::evaluate(g, c, p, cm);
                if (!ev.ok() || !ev->fits) continue;
                ++checked;
                EXPECT_LE(r->best.iteration_seconds, ev->iteration_seconds * (1 + 1e-12)) << p.ToString();
              }
  EXPECT_GT(checked, 200);
  ASSERT_TRUE(r->data_parallel.has_value());
  EXPECT_LE(r->best.iteration_seconds, r->data_parallel->iteration_seconds);
}

TEST(ConfigSearch, ReportsProgressOnTheCallingThreadUpToTheChosenTime) {
  const Graph g = small_gpt();
  const opplan::AnalyticCostModel cm;
  ConfigSearchOptions o;
  o.global_batch = 32;
  std::vector<opplan::PlanProgress> reports;
  o.monitor.progress = [&](const opplan::PlanProgress& p) { reports.push_back(p); };
  auto r = opplan::search_parallel_configs(g, Cluster::dgx_a100(), cm, o);
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(reports.empty());
  EXPECT_TRUE(reports.front().improved);
  EXPECT_DOUBLE_EQ(reports.back().best, r->best.iteration_seconds);
  for (const auto& p : reports) EXPECT_LE(p.bound, p.best);
}

TEST(ConfigSearch, ResultDoesNotDependOnTheThreadCount) {
  const Graph g = small_gpt();
  const Cluster c = *Cluster::preset("dgx-a100x2");
  const opplan::AnalyticCostModel cm;
  ConfigSearchOptions o;
  o.global_batch = 64;
  o.threads = 1;
  auto one = opplan::search_parallel_configs(g, c, cm, o);
  o.threads = 3;
  auto three = opplan::search_parallel_configs(g, c, cm, o);
  ASSERT_TRUE(one.ok() && three.ok());
  EXPECT_EQ(one->best.config.ToString(), three->best.config.ToString());
  ASSERT_EQ(one->ranked.size(), three->ranked.size());
  for (std::size_t i = 0; i < one->ranked.size(); ++i) {
    EXPECT_EQ(one->ranked[i].config.ToString(), three->ranked[i].config.ToString());
    EXPECT_EQ(one->ranked[i].iteration_seconds, three->ranked[i].iteration_seconds);
  }
  EXPECT_EQ(one->evaluated, three->evaluated);
}

TEST(ConfigSearch, LessMemoryNeverYieldsAConfigurationThatDoesNotFit) {
  const Graph g = small_gpt();
  const Cluster c = Cluster::dgx_a100();
  const opplan::AnalyticCostModel cm;
  double previous = 0;
  for (double cap : {80e9, 20e9, 8e9, 4e9, 3e9}) {
    ConfigSearchOptions o;
    o.global_batch = 32;
    o.memory_cap = cap;
    auto r = opplan::search_parallel_configs(g, c, cm, o);
    if (!r.ok()) {
      EXPECT_THAT(r.status().message(), HasSubstr("needs the least memory")) << cap;
      continue;
    }
    Cluster capped = c;
    for (auto d : capped.devices()) capped.mutable_device(d).memory_bytes = cap;
    auto ev = opplan::evaluate(g, capped, r->best.config, cm);
    ASSERT_TRUE(ev.ok());
    EXPECT_TRUE(ev->fits) << cap << ": " << ev->memory_problem;
    EXPECT_LE(ev->peak_memory.total(), cap);
    EXPECT_GE(r->best.iteration_seconds, previous * (1 - 1e-12)) << "less memory cannot make it faster";
    previous = r->best.iteration_seconds;
  }
}

TEST(ConfigSearch, MoeOver1TbOfAdamStateFailsWithTheNumbersAndPlansWithSgd) {
  auto g = opplan::zoo_model("gshard-moe-70b");
  ASSERT_TRUE(g.ok());
  const Cluster c = *Cluster::preset("p3.16xlargex8");
  ConfigSearchOptions o;
  o.global_batch = 1024;
  const opplan::AnalyticCostModel adam;
  auto r = opplan::search_parallel_configs(*g, c, adam, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), opplan::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("1.11 TB"));
  EXPECT_THAT(r.status().message(), HasSubstr("1024 GB"));
  EXPECT_THAT(r.status().message(), HasSubstr("needs the least memory"));
  opplan::AnalyticCostModel::Options so;
  so.optimizer = opplan::Optimizer::kSgd;
  const opplan::AnalyticCostModel sgd(so);
  auto s = opplan::search_parallel_configs(*g, c, sgd, o);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_TRUE(s->best.fits);
  EXPECT_GT(s->best.config.ep, 1) << "the experts must be split to fit";
}

// The must-shows for the models that fit: Llama-3 70B on 8 DGX-A100 nodes and
// Wide-ResNet 13B on 8 x p3.16xlarge with mixed-precision Adam, each within the devices' memory.
TEST(ConfigSearch, Llama70bAndWideResNet13bPlanWithAdam) {
  const opplan::AnalyticCostModel adam;
  for (auto [model, preset] : {std::pair{"llama3-70b", "dgx-a100x8"}, std::pair{"wresnet-13b", "p3.16xlargex8"}}) {
    auto g = opplan::zoo_model(model);
    auto c = Cluster::preset(preset);
    ASSERT_TRUE(g.ok() && c.ok());
    ConfigSearchOptions o;
    o.global_batch = 1024;
    auto r = opplan::search_parallel_configs(*g, *c, adam, o);
    ASSERT_TRUE(r.ok()) << model << ": " << r.status().to_string();
    EXPECT_TRUE(r->best.fits) << model;
    EXPECT_LE(r->best.peak_memory.total(), c->device(opplan::DeviceId(0)).memory_bytes) << model;
    EXPECT_GT(r->best.peak_memory.optimizer, 0) << model << ": Adam's state is counted";
    EXPECT_GT(r->best.mfu, 0.2) << model;
  }
}

TEST(ConfigSearch, BadInputIsNamed) {
  const Graph g = small_gpt();
  const opplan::AnalyticCostModel cm;
  ConfigSearchOptions o;
  o.global_batch = 1;  // 128 devices, TP <= 8, PP <= 8 layers, no CP: at least DP 2
  o.max_cp = 1;
  auto r = opplan::search_parallel_configs(g, *Cluster::preset("dgx-a100x16"), cm, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("raise the global batch"));
  o = {};
  o.keep = 0;
  r = opplan::search_parallel_configs(g, Cluster::dgx_a100(), cm, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("keep"));
  o = {};
  o.references.push_back(ParallelConfig{});  // global batch 1, the search's is 8
  r = opplan::search_parallel_configs(g, Cluster::dgx_a100(), cm, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("references"));
  EXPECT_FALSE(opplan::search_parallel_configs(Graph("empty"), Cluster::dgx_a100(), cm).ok());
}

TEST(ConfigSearch, PlanStrategyReportsEvaluatesFiguresAndAVerifiedSchedule) {
  const Graph g = small_gpt();
  const Cluster c = *Cluster::preset("dgx-a100x2");
  opplan::PlanOptions o;
  o.strategy = opplan::PlanStrategy::kParallelConfig;
  o.global_batch = 64;
  auto p = opplan::plan(g, c, o);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  ASSERT_TRUE(p->configs.has_value());
  EXPECT_TRUE(p->verified);
  EXPECT_EQ(p->summary.strategy, "parallel-config");
  const opplan::AnalyticCostModel cm;
  auto ev = opplan::evaluate(g, c, p->configs->best.config, cm);
  ASSERT_TRUE(ev.ok());
  EXPECT_DOUBLE_EQ(p->iteration_seconds, ev->iteration_seconds);
  EXPECT_EQ(p->schedule.device_tasks.size(), static_cast<std::size_t>(ev->config.pp));
  ASSERT_EQ(p->placement.size(), g.num_ops());
  for (auto d : p->placement) EXPECT_LT(d.value(), c.num_devices());
  EXPECT_THAT(p->configs->FullReport(), HasSubstr("plain data parallelism"));
  o.score = [](const opplan::Schedule& s) { return s.metrics.makespan; };
  EXPECT_FALSE(opplan::plan(g, c, o).ok());
}

TEST(ConfigSearch, ChosenConfigurationRoundTripsThroughMegatronAndDeepSpeed) {
  ParallelConfig c;
  c.dp = 16, c.tp = 8, c.pp = 4, c.vpp = 1, c.cp = 2, c.zero = 1, c.sequence_parallel = true;
  c.micro_batch_size = 2, c.global_batch = 512, c.recompute = ActivationRecompute::kSelective;
  c.flash_attention = true, c.layers_per_stage = {7, 9, 9, 7};
  const auto m = opplan::megatron_command(c, 32);
  auto back = opplan::parse_megatron_args(m.args + " --world-size 1024");
  ASSERT_TRUE(back.ok()) << back.status().to_string() << "\n" << m.args;
  const ParallelConfig& b = back->config;
  EXPECT_EQ(b.ToString(), c.ToString());
  EXPECT_EQ(b.layers_per_stage, c.layers_per_stage);
  EXPECT_EQ(b.zero, 1);
  EXPECT_EQ(b.overlap_grad_reduce, c.overlap_grad_reduce);
  EXPECT_THAT(m.args, HasSubstr("--decoder-first-pipeline-num-layers 7"));

  c.layers_per_stage.clear(), c.vpp = 2, c.schedule = PipelineSchedule::kInterleaved, c.zero = 3;
  const auto v = opplan::megatron_command(c, 32);
  back = opplan::parse_megatron_args(v.args + " --world-size 1024");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->config.ToString(), c.ToString());

  c.schedule = PipelineSchedule::kZBV;
  const auto z = opplan::megatron_command(c, 32);
  ASSERT_FALSE(z.notes.empty());
  EXPECT_THAT(z.notes.front(), HasSubstr("zbv: not a Megatron-LM option"));

  auto ds = opplan::parse_deepspeed_config(opplan::deepspeed_config_json(c, opplan::DType::kBF16));
  ASSERT_TRUE(ds.ok()) << ds.status().to_string();
  EXPECT_EQ(ds->config.dp, c.dp);
  EXPECT_EQ(ds->config.zero, 3);
  EXPECT_EQ(ds->config.micro_batch_size, 2);
  EXPECT_EQ(ds->dtype, opplan::DType::kBF16);
}

// The torchvision graphs exported by opplan.torch: at 64 images on one DGX-A100 the plan is
// never slower than plain data parallelism (DP 8) on the same cost model.
class TorchvisionVsDataParallel : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionVsDataParallel, PlanIsNeverSlowerThanDp8) {
  auto g = opplan::read_graph_json(std::string(OPPLAN_TEST_DATA_DIR) + "/torch/" + GetParam() + ".json");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  const Cluster c = Cluster::dgx_a100();
  const opplan::AnalyticCostModel cm;
  ConfigSearchOptions o;
  o.global_batch = 64;
  auto r = opplan::search_parallel_configs(*g, c, cm, o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ParallelConfig dp;
  dp.dp = 8, dp.global_batch = 64;
  for (int mbs : {1, 2, 4, 8}) {
    dp.micro_batch_size = mbs;
    dp.flash_attention = true;
    auto ev = opplan::evaluate(*g, c, dp, cm);
    ASSERT_TRUE(ev.ok()) << ev.status().to_string();
    if (ev->fits) EXPECT_LE(r->best.iteration_seconds, ev->iteration_seconds) << GetParam() << " mbs " << mbs;
  }
}

INSTANTIATE_TEST_SUITE_P(Torch, TorchvisionVsDataParallel,
                         ::testing::Values("resnet50", "inception_v3", "swin_t", "transformer"));

}  // namespace
