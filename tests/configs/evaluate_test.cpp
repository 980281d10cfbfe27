// evaluate(): training memory against hand-computed bytes and Korthikanti et al.'s activation
// formulas, the configuration checks, and time that never improves on a slower device.
#include <opplan/evaluate.hpp>

#include <cmath>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opplan/models.hpp>

namespace opplan {
namespace {

using ::testing::HasSubstr;

constexpr double kS = 2048, kB = 1, kH = 1024, kA = 16;  // sequence, micro-batch, hidden, heads

// A GPT of `layers` layers (seq kS, hidden kH, kA heads), built for one sample.
Graph gpt(int layers) {
  TransformerConfig c;
  c.hidden = static_cast<int>(kH), c.layers = layers, c.heads = static_cast<int>(kA), c.seq_len = static_cast<int>(kS);
  c.vocab = 1024, c.dtype = DType::kF16;
  return *build_transformer(c);
}

ParallelConfig single(int tp, bool sp, ActivationRecompute r) {
  ParallelConfig c;
  c.tp = tp, c.sequence_parallel = sp, c.recompute = r;
  return c;
}

// Activation bytes of one layer: the peak activations of a 2-layer model minus those of a 1-layer
// model (one micro-batch, no pipeline), on tp devices of one node.
double layer_activations(int tp, bool sp, ActivationRecompute r) {
  const AnalyticCostModel cm;
  Cluster cluster = Cluster::dgx_a100();
  Cluster part("part");
  for (int i = 0; i < tp; ++i) part.add_device(cluster.device(DeviceId(static_cast<std::uint32_t>(i))));
  part.set_intra_node_link(cluster.intra_node_link());
  part.set_inter_node_link(cluster.inter_node_link());
  auto two = evaluate(gpt(2), part, single(tp, sp, r), cm);
  auto one = evaluate(gpt(1), part, single(tp, sp, r), cm);
  EXPECT_TRUE(two.ok()) << two.status().message();
  EXPECT_TRUE(one.ok()) << one.status().message();
  return two->peak_memory.activations - one->peak_memory.activations;
}

// Korthikanti et al. 2022, Table 2 (sbh terms), plus the two layer norms' fp32 mean and
// reciprocal std (8 bytes per token each), which the paper leaves out; split like the layer norms.
double korthikanti(int t, bool sp, ActivationRecompute r) {
  const double sbh = kS * kB * kH, core = 5 * kA * kS / kH, stats = 2 * 8 * kS * kB;
  switch (r) {
    case ActivationRecompute::kNone:
      return sp ? sbh * (34.0 / t + core / t) + stats / t : sbh * (10 + 24.0 / t + core / t) + stats;
    case ActivationRecompute::kSelective:
      return sp ? sbh * 34.0 / t + stats / t : sbh * (10 + 24.0 / t) + stats;
    case ActivationRecompute::kFull: return sp ? 2 * sbh / t : 2 * sbh;
  }
  return 0;
}

TEST(EvaluateMemory, LayerActivationsEqualKorthikantiExactly) {
  for (ActivationRecompute r : {ActivationRecompute::kNone, ActivationRecompute::kSelective, ActivationRecompute::kFull})
    for (int t : {1, 2, 4, 8})
      for (bool sp : {false, true}) {
        if (sp && t == 1) continue;
        SCOPED_TRACE(testing::Message() << "tp " << t << (sp ? " + SP" : "") << ", recompute " << to_string(r));
        EXPECT_DOUBLE_EQ(layer_activations(t, sp, r), korthikanti(t, sp, r));
      }
}

// One fp16 matmul with 1e9 parameters (2e9 bytes of weights) and nothing to keep.
Graph one_matmul(DType dtype) {
  Graph g("one");
  Op op;
  op.name = "w";
  op.kind = "matmul";
  op.dtype = dtype;
  op.param_bytes = 1e9 * size_in_bytes(dtype);
  op.forward.flops = op.input_grad.flops = op.weight_grad.flops = 1e12;
  g.add_op(op);
  return g;
}

Cluster four_gpus() {
  Cluster full = Cluster::dgx_a100();
  Cluster c("four");
  for (std::uint32_t i = 0; i < 4; ++i) c.add_device(full.device(DeviceId(i)));
  c.set_intra_node_link(full.intra_node_link());
  c.set_inter_node_link(full.inter_node_link());
  return c;
}

TEST(EvaluateMemory, ZeroStagesShardWhatTheySay) {
  const AnalyticCostModel cm;  // Adam on fp16 weights: 2 + 2 + 12 bytes per parameter
  for (int zero = 0; zero <= 3; ++zero) {
    ParallelConfig c;
    c.dp = 4, c.zero = zero;
    auto ev = evaluate(one_matmul(DType::kF16), four_gpus(), c, cm);
    ASSERT_TRUE(ev.ok()) << ev.status().message();
    SCOPED_TRACE(zero);
    EXPECT_DOUBLE_EQ(ev->peak_memory.weights, zero >= 3 ? 0.5e9 : 2e9);
    EXPECT_DOUBLE_EQ(ev->peak_memory.gradients, zero >= 2 ? 0.5e9 : 2e9);
    EXPECT_DOUBLE_EQ(ev->peak_memory.optimizer, zero >= 1 ? 3e9 : 12e9);
  }
}

TEST(EvaluateMemory, OptimizersKeepTheirBytesPerParameter) {
  struct Case {
    Optimizer optimizer;
    DType dtype;
    double weights, gradients, optimizer_state;  // bytes per parameter
  };
  const Case cases[] = {{Optimizer::kAdam, DType::kF16, 2, 2, 12},      {Optimizer::kAdam, DType::kBF16, 2, 2, 12},
                        {Optimizer::kAdam, DType::kF32, 4, 4, 8},       {Optimizer::kSgd, DType::kF16, 2, 2, 4},
                        {Optimizer::kSgd, DType::kF32, 4, 4, 0},        {Optimizer::kSgdMomentum, DType::kF16, 2, 2, 8},
                        {Optimizer::kSgdMomentum, DType::kF32, 4, 4, 4}};
  for (const Case& k : cases) {
    AnalyticCostModel::Options o;
    o.optimizer = k.optimizer;
    const AnalyticCostModel cm(o);
    ParallelConfig c;
    c.dp = 4;
    auto ev = evaluate(one_matmul(k.dtype), four_gpus(), c, cm);
    ASSERT_TRUE(ev.ok()) << ev.status().message();
    SCOPED_TRACE(testing::Message() << to_string(k.optimizer) << " " << to_string(k.dtype));
    EXPECT_DOUBLE_EQ(ev->peak_memory.weights, 1e9 * k.weights);
    EXPECT_DOUBLE_EQ(ev->peak_memory.gradients, 1e9 * k.gradients);
    EXPECT_DOUBLE_EQ(ev->peak_memory.optimizer, 1e9 * k.optimizer_state);
  }
}

TEST(EvaluateMemory, ReserveAndBreakdownAddUp) {
  const AnalyticCostModel cm;
  ParallelConfig c;
  c.dp = 4;
  EvaluateOptions o;
  o.reserve_bytes = 1e9, o.fragmentation = 0.1;
  auto ev = evaluate(one_matmul(DType::kF16), four_gpus(), c, cm, o);
  ASSERT_TRUE(ev.ok());
  const MemoryBreakdown& m = ev->peak_memory;
  const double rest = m.weights + m.gradients + m.optimizer + m.activations + m.buffers;
  EXPECT_DOUBLE_EQ(m.reserve, 1e9 + 0.1 * rest);
  EXPECT_DOUBLE_EQ(m.total(), rest + m.reserve);
}

TEST(EvaluateMemory, InterleavingHoldsMoreMicroBatchesThan1F1B) {
  // Korthikanti: the first stage of 1F1B holds p micro-batches of its L/p layers; interleaving with
  // m virtual stages multiplies that by 1 + (p - 1) / (p m).
  const AnalyticCostModel cm;
  const Cluster cluster = Cluster::dgx_a100();
  ParallelConfig c;
  c.pp = 8, c.global_batch = 16;
  auto plain = evaluate(gpt(16), cluster, c, cm);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ(plain->stages[0].peak_micro_batches, 8);
  c.vpp = 2, c.schedule = PipelineSchedule::kInterleaved;
  auto inter = evaluate(gpt(16), cluster, c, cm);
  ASSERT_TRUE(inter.ok()) << inter.status().message();
  // 2 (p - 1) + (m - 1) p + 1 = 23 chunks of half a stage = 8 * (1 + 7 / 16) stages' worth.
  EXPECT_EQ(inter->stages[0].peak_micro_batches, 23);
}

TEST(EvaluateTime, SlowerDeviceNeverMakesItFaster) {
  const AnalyticCostModel cm;
  const Graph g = gpt(8);
  ParallelConfig base;
  base.dp = 2, base.tp = 2, base.pp = 2, base.global_batch = 16;
  for (PipelineSchedule s : {PipelineSchedule::k1F1B, PipelineSchedule::kGPipe, PipelineSchedule::kZBH1}) {
    ParallelConfig c = base;
    c.schedule = s;
    auto fast = evaluate(g, Cluster::dgx_a100(), c, cm);
    ASSERT_TRUE(fast.ok()) << fast.status().message();
    for (std::uint32_t d = 0; d < 8; ++d) {
      Cluster slow = Cluster::dgx_a100();
      Device& dev = slow.mutable_device(DeviceId(d));
      dev.peak_flops /= 3, dev.peaks = {}, dev.memory_bandwidth /= 3, dev.model = "slower";
      auto ev = evaluate(g, slow, c, cm);
      ASSERT_TRUE(ev.ok());
      EXPECT_GT(ev->iteration_seconds, fast->iteration_seconds) << "device " << d << ", " << to_string(s);
    }
  }
}

TEST(EvaluateTime, V100HalfOfAHeterogeneousClusterIsSlowerThanA100s) {
  // Two nodes: 4 A100 and 4 V100 (V100: fp16 125 TFLOP/s). A pipeline with a stage on the V100s
  // is timed on them, so it cannot beat 8 A100.
  const AnalyticCostModel cm;
  Cluster a100 = Cluster::dgx_a100();
  const Cluster v100 = Cluster::aws_p3_16xlarge();
  Cluster mixed("a100+v100");
  for (std::uint32_t i = 0; i < 4; ++i) mixed.add_device(a100.device(DeviceId(i)));
  for (std::uint32_t i = 0; i < 4; ++i) {
    Device d = v100.device(DeviceId(i));
    d.name = "v" + std::to_string(i), d.node = 1;
    mixed.add_device(d);
  }
  mixed.set_intra_node_link(a100.intra_node_link());
  mixed.set_inter_node_link(a100.inter_node_link());
  Cluster eight("eight");
  for (std::uint32_t i = 0; i < 8; ++i) {
    Device d = a100.device(DeviceId(i));
    d.node = i / 4;
    eight.add_device(d);
  }
  eight.set_intra_node_link(a100.intra_node_link());
  eight.set_inter_node_link(a100.inter_node_link());
  auto g = zoo_model("gpt3-1.3b");
  ASSERT_TRUE(g.ok());
  ParallelConfig c;
  c.tp = 4, c.pp = 2, c.global_batch = 8;
  auto fast = evaluate(*g, eight, c, cm);
  auto slow = evaluate(*g, mixed, c, cm);
  ASSERT_TRUE(fast.ok() && slow.ok());
  EXPECT_GT(slow->iteration_seconds, 1.5 * fast->iteration_seconds);
  // The V100 stage is the slow one (125 against 312 TFLOP/s at fp16, 0.9 against 2.0 TB/s).
  EXPECT_GT(slow->stages[1].forward, 1.5 * slow->stages[0].forward);
  EXPECT_DOUBLE_EQ(slow->stages[0].forward, fast->stages[0].forward);
}

TEST(EvaluateErrors, NameWhatIsWrong) {
  const AnalyticCostModel cm;
  const Graph g = gpt(8);
  const Cluster cluster = Cluster::dgx_a100();
  auto fails = [&](ParallelConfig c, const std::string& text) {
    auto ev = evaluate(g, cluster, c, cm);
    ASSERT_FALSE(ev.ok());
    EXPECT_EQ(ev.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(ev.status().message(), HasSubstr(text));
  };
  ParallelConfig c;
  c.dp = 4;
  fails(c, "dp x tp x pp x cp = 4 x 1 x 1 x 1 = 4 devices, but cluster 'dgx-a100' has 8");
  c = {}, c.tp = 8, c.dp = 1;
  auto heads = evaluate(gpt(8), cluster, c, cm);  // 16 heads: fine
  EXPECT_TRUE(heads.ok());
  c = {}, c.pp = 3, c.dp = 1;
  ParallelConfig bad_heads;
  bad_heads.tp = 8;
  TransformerConfig tc;
  tc.hidden = 1200, tc.heads = 12, tc.layers = 2, tc.seq_len = 256, tc.vocab = 1024;
  auto odd = evaluate(*build_transformer(tc), cluster, bad_heads, cm);
  ASSERT_FALSE(odd.ok());
  EXPECT_THAT(odd.status().message(), HasSubstr("does not divide"));
  c = {}, c.pp = 8, c.vpp = 2, c.schedule = PipelineSchedule::kInterleaved, c.global_batch = 16;
  fails(c, "pp x vpp = 8 x 2 = 16 does not divide the 8 layers");
  c = {}, c.dp = 8, c.micro_batch_size = 2, c.global_batch = 20;
  fails(c, "global_batch (20) must be a multiple of dp x micro_batch_size");
  c = {}, c.dp = 8, c.ep = 2;
  fails(c, "no expert ops");
  c = {}, c.dp = 8, c.ep = 3;
  fails(c, "ep (3) must divide dp (8)");
  c = {}, c.dp = 4, c.tp = 2, c.cp = 1, c.zero = 4;
  fails(c, "zero must be 0, 1, 2 or 3");
  c = {}, c.pp = 8, c.global_batch = 12, c.schedule = PipelineSchedule::kDualPipe;
  fails(c, "schedule dualpipe cannot run this pipeline");
}

TEST(EvaluateErrors, ConfigurationThatDoesNotFitIsReportedNotRefused) {
  const AnalyticCostModel cm;
  auto g = zoo_model("gpt3-39b");
  ASSERT_TRUE(g.ok());
  ParallelConfig c;
  c.dp = 8;  // 39B parameters x 16 bytes on every device
  auto ev = evaluate(*g, Cluster::dgx_a100(), c, cm);
  ASSERT_TRUE(ev.ok()) << ev.status().message();
  EXPECT_FALSE(ev->fits);
  EXPECT_THAT(ev->memory_problem, HasSubstr("device 'n0.gpu0'"));
  EXPECT_THAT(ev->memory_problem, HasSubstr("optimizer is the largest part"));
  EXPECT_GT(ev->iteration_seconds, 0);
}

TEST(FrameworkArgs, MegatronLineReadsAndRejects) {
  auto ok = parse_megatron_args(
      "--tensor-model-parallel-size 8 --pipeline-model-parallel-size 8 --num-layers 96 --hidden-size 12288 "
      "--num-attention-heads 96 --seq-length 2048 --micro-batch-size 1 --global-batch-size 1536 "
      "--num-layers-per-virtual-pipeline-stage 4 --sequence-parallel --recompute-activations "
      "--use-distributed-optimizer --bf16 --world-size 1024");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->config.tp, 8);
  EXPECT_EQ(ok->config.pp, 8);
  EXPECT_EQ(ok->config.vpp, 3);
  EXPECT_EQ(ok->config.dp, 16);
  EXPECT_EQ(ok->config.zero, 1);
  EXPECT_EQ(ok->config.schedule, PipelineSchedule::kInterleaved);
  EXPECT_EQ(ok->config.recompute, ActivationRecompute::kSelective);
  EXPECT_TRUE(ok->config.sequence_parallel);
  EXPECT_EQ(ok->model_spec, "gpt:hidden=12288,layers=96,heads=96,seq=2048,dtype=bf16");
  auto bad = [](const char* line, const char* text) {
    auto r = parse_megatron_args(line);
    ASSERT_FALSE(r.ok()) << line;
    EXPECT_THAT(r.status().message(), HasSubstr(text));
  };
  bad("--tensor-model-parallel-size 8 --frobnicate 3", "unknown flag --frobnicate");
  bad("--bf16 --fp16", "contradict");
  bad("--micro-batch-size", "needs a value");
  bad("--micro-batch-size two", "needs a positive integer");
  bad("--num-layers-per-virtual-pipeline-stage 2 --num-layers 8", "needs a pipeline");
  bad("--recompute-method uniform", "needs --recompute-granularity full");
  bad("--tensor-model-parallel-size 8 --world-size 12", "not a multiple of tp x pp x cp");
}

TEST(FrameworkArgs, DeepSpeedConfig) {
  auto ok = parse_deepspeed_config(
      R"({"train_batch_size": 64, "train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 4,
          "zero_optimization": {"stage": 3}, "bf16": {"enabled": true}})");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->config.zero, 3);
  EXPECT_EQ(ok->config.dp, 8);
  EXPECT_EQ(ok->config.micro_batch_size, 2);
  EXPECT_EQ(ok->dtype, DType::kBF16);
  auto stage = parse_deepspeed_config(R"({"zero_optimization": {"stage": 5}})", "ds.json");
  ASSERT_FALSE(stage.ok());
  EXPECT_THAT(stage.status().message(), HasSubstr("ds.json: /zero_optimization/stage must be an integer in 0..3"));
  EXPECT_FALSE(parse_deepspeed_config("{", "ds.json").ok());
}

TEST(ModelSpec, BuildsAnySizeAndNamesBadKeys) {
  auto g = zoo_model("gpt:hidden=512,layers=3,heads=8,seq=128,vocab=1000,dtype=bf16,batch=2");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->samples(), 2);
  EXPECT_EQ(g->sequence_length(), 128);
  EXPECT_TRUE(zoo_model("gpt3-175b").ok());
  EXPECT_TRUE(zoo_model("llama:hidden=256,layers=2,heads=4,kv_heads=2,ffn=512,seq=64,vocab=100").ok());
  auto bad = zoo_model("gpt:hidden=512,depth=3");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("unknown key 'depth' for family gpt"));
  EXPECT_THAT(zoo_model("gpt:hidden=x").status().message(), HasSubstr("hidden needs a whole number"));
  EXPECT_THAT(zoo_model("bert:hidden=1").status().message(), HasSubstr("unknown family 'bert'"));
}

}  // namespace
}  // namespace opplan

namespace opplan {
namespace {

TEST(EvaluateExperts, ExpertParallelismSplitsExpertWeightsAndNeedsDivisibleExperts) {
  const AnalyticCostModel cm;
  auto moe = zoo_model("moe:hidden=256,layers=2,heads=4,experts=8,seq=128,vocab=1000");
  ASSERT_TRUE(moe.ok()) << moe.status().message();
  ParallelConfig c;
  c.dp = 8;
  auto dense = evaluate(*moe, Cluster::dgx_a100(), c, cm);
  c.ep = 8;
  auto split = evaluate(*moe, Cluster::dgx_a100(), c, cm);
  ASSERT_TRUE(dense.ok() && split.ok()) << (dense.ok() ? split.status() : dense.status()).message();
  // Expert weights are spread over 8 devices: less weight memory per device, all-to-all time.
  EXPECT_LT(split->peak_memory.weights, 0.5 * dense->peak_memory.weights);
  EXPECT_GT(split->breakdown.ep_comm, 0);
  EXPECT_EQ(dense->breakdown.ep_comm, 0);
  auto six = zoo_model("moe:hidden=256,layers=2,heads=4,experts=6,seq=128,vocab=1000");
  ASSERT_TRUE(six.ok());
  c.ep = 4;
  auto bad = evaluate(*six, Cluster::dgx_a100(), c, cm);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("ep 4 does not divide the 6 experts"));
}

TEST(EvaluateTime, ContextParallelismSplitsTheSequence) {
  const AnalyticCostModel cm;
  auto g = zoo_model("gpt:hidden=1024,layers=4,heads=16,seq=4096,vocab=1000");
  ASSERT_TRUE(g.ok());
  ParallelConfig c;
  c.dp = 8;
  auto dp = evaluate(*g, Cluster::dgx_a100(), c, cm);
  c.dp = 1, c.cp = 8;
  auto cp = evaluate(*g, Cluster::dgx_a100(), c, cm);
  ASSERT_TRUE(dp.ok() && cp.ok()) << (dp.ok() ? cp.status() : dp.status()).message();
  // One sample split over 8 devices keeps an eighth of the activations of one sample per device.
  EXPECT_NEAR(cp->peak_memory.activations, dp->peak_memory.activations / 8, 0.01 * dp->peak_memory.activations);
  EXPECT_GT(cp->breakdown.cp_comm, 0);
  c.cp = 3, c.dp = 1;
  Cluster six("six");
  for (std::uint32_t i = 0; i < 3; ++i) six.add_device(Cluster::dgx_a100().device(DeviceId(i)));
  auto bad = evaluate(*g, six, c, cm);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("cp 3 does not divide the sequence length 4096"));
}

}  // namespace
}  // namespace opplan
