// The measured training runs of ../shared/reference/calibration.md with their published
// configurations, shared by bench_calibration (prediction against measurement) and
// bench_parallel_configs (the planner's configuration against the published one).
#pragma once

#include <opplan/opplan.hpp>

#include <string>
#include <vector>

#include <fmt/format.h>

namespace calibration {

using opplan::ActivationRecompute;
using opplan::ParallelConfig;
using opplan::PipelineSchedule;

enum class Measure { kSeconds, kMegatron2021Tflops, kMegatronCoreTflops, kTokensPerGpu };

struct Row {
  std::string source;
  std::string name;
  std::string model;    // zoo spec
  std::string cluster;  // preset with node count
  ParallelConfig config;
  Measure measure;
  double measured;      // seconds, TFLOP/s per GPU, or tokens/s per GPU
  std::string assumed;  // settings the source does not give
  // For the FLOP formulas.
  double layers = 0, hidden = 0, vocab = 0, seq = 0;
};

inline ParallelConfig cfg(int dp, int tp, int pp, int vpp, int mbs, long long gbs, ActivationRecompute r, bool sp = false,
                   int zero = 0) {
  ParallelConfig c;
  c.dp = dp, c.tp = tp, c.pp = pp, c.vpp = vpp, c.micro_batch_size = mbs, c.global_batch = gbs, c.recompute = r;
  c.sequence_parallel = sp, c.zero = zero;
  c.schedule = vpp > 1 ? PipelineSchedule::kInterleaved : PipelineSchedule::k1F1B;
  c.overlap_grad_reduce = false, c.overlap_param_gather = false, c.overlap_tp_comm = false;
  return c;
}

inline std::string gpt(int h, int l, int a, int seq, int vocab, const char* dtype) {
  return fmt::format("gpt:hidden={},layers={},heads={},seq={},vocab={},dtype={}", h, l, a, seq, vocab, dtype);
}

inline std::vector<Row> rows() {
  std::vector<Row> out;
  const auto full = ActivationRecompute::kFull, sel = ActivationRecompute::kSelective, none = ActivationRecompute::kNone;
  // Megatron-LM 2021, Table 1 (Selene, fp16, full recomputation, interleaved where PP > 1).
  struct T1 { double params; int heads, hidden, layers, tp, pp, gpus, batch; double tflops; int vpp; };
  const T1 t1[] = {{1.7, 24, 2304, 24, 1, 1, 32, 512, 137, 1},     {3.6, 32, 3072, 30, 2, 1, 64, 512, 138, 1},
                   {7.5, 32, 4096, 36, 4, 1, 128, 512, 142, 1},    {18.4, 48, 6144, 40, 8, 1, 256, 1024, 135, 1},
                   {39.1, 64, 8192, 48, 8, 2, 512, 1536, 138, 2},  {76.1, 80, 10240, 60, 8, 4, 1024, 1792, 140, 3},
                   {145.6, 96, 12288, 80, 8, 8, 1536, 2304, 148, 2}, {310.1, 128, 16384, 96, 8, 16, 1920, 2160, 155, 2},
                   {529.6, 128, 20480, 105, 8, 35, 2520, 2520, 163, 3}, {1008.0, 160, 25600, 128, 8, 64, 3072, 3072, 163, 2}};
  for (const T1& r : t1) {
    const int dp = r.gpus / (r.tp * r.pp);
    Row row{"Megatron-LM 2021 Table 1", fmt::format("GPT {}B", r.params), gpt(r.hidden, r.layers, r.heads, 2048, 51200, "f16"),
            fmt::format("selenex{}", r.gpus / 8), cfg(dp, r.tp, r.pp, r.vpp, 1, r.batch, full), Measure::kMegatron2021Tflops,
            r.tflops, r.pp > 1 ? fmt::format("micro-batch 1, VPP {}", r.vpp) : "micro-batch 1"};
    row.layers = r.layers, row.hidden = r.hidden, row.vocab = 51200, row.seq = 2048;
    out.push_back(row);
  }
  // Table 2: PTD-P (TP 8 x PP 12) and ZeRO-3 for 174.6B.
  const int ptd_gpus[] = {384, 768, 1536};
  const double ptd_tflops[] = {153, 149, 141}, zero_tflops[] = {144, 88, 44};
  for (int i = 0; i < 3; ++i) {
    const int g = ptd_gpus[i];
    Row row{"Megatron-LM 2021 Table 2", fmt::format("GPT 175B PTD-P, {} GPUs", g), gpt(12288, 96, 96, 2048, 51200, "f16"),
            fmt::format("selenex{}", g / 8), cfg(g / 96, 8, 12, 2, 1, 1536, full), Measure::kMegatron2021Tflops,
            ptd_tflops[i], "VPP 2"};
    row.layers = 96, row.hidden = 12288, row.vocab = 51200, row.seq = 2048;
    out.push_back(row);
    ParallelConfig z = cfg(g, 1, 1, 1, 4 >> i, 1536, full, false, 3);
    z.overlap_param_gather = true;  // ZeRO-3 prefetches the next layer's weights
    Row zrow{"Megatron-LM 2021 Table 2", fmt::format("GPT 175B ZeRO-3, {} GPUs", g), row.model, row.cluster, z,
             Measure::kMegatron2021Tflops, zero_tflops[i], "full recomputation, prefetch overlapped"};
    zrow.layers = 96, zrow.hidden = 12288, zrow.vocab = 51200, zrow.seq = 2048;
    out.push_back(zrow);
  }
  // Korthikanti et al. 2022, Table 5 (iteration seconds, DP 1).
  // The paper does not give the schedule; one reproduction reports 3 virtual stages for 175B and
  // 530B; 1T with 1F1B (interleaving would not fit its activations in 80 GB).
  struct T5 { const char* name; int heads, hidden, layers, tp, pp, gpus, batch, mbs; double full_s, sel_s; int vpp; };
  const T5 t5[] = {{"22B", 64, 6144, 48, 8, 1, 8, 4, 4, 1.42, 1.10, 1},
                   {"175B", 96, 12288, 96, 8, 8, 64, 64, 1, 18.13, 13.75, 3},
                   {"530B", 128, 20480, 105, 8, 35, 280, 280, 1, 49.05, 37.83, 3},
                   {"1T", 160, 25600, 128, 8, 64, 512, 512, 1, 94.42, 71.49, 1}};
  for (const T5& r : t5) {
    const std::string model = gpt(r.hidden, r.layers, r.heads, 2048, 51200, "bf16");
    out.push_back(Row{"Korthikanti 2022 Table 5", fmt::format("GPT {} full recompute", r.name), model,
                      fmt::format("selenex{}", r.gpus / 8), cfg(1, r.tp, r.pp, r.vpp, r.mbs, r.batch, full),
                      Measure::kSeconds, r.full_s, r.vpp > 1 ? fmt::format("VPP {}", r.vpp) : std::string("-")});
    out.push_back(Row{"Korthikanti 2022 Table 5", fmt::format("GPT {} SP + selective", r.name), model,
                      fmt::format("selenex{}", r.gpus / 8), cfg(1, r.tp, r.pp, r.vpp, r.mbs, r.batch, sel, true),
                      Measure::kSeconds, r.sel_s, r.vpp > 1 ? fmt::format("VPP {}", r.vpp) : std::string("-")});
  }
  // Megatron-Core on H100 (weak scaling, bf16, overlapped communication, distributed optimizer).
  struct Mc { const char* size; int heads, hidden, layers, tp, pp, dp, gpus, batch; double tflops; };
  const Mc mc[] = {{"1.7B", 16, 2048, 24, 1, 1, 48, 48, 192, 408.8},     {"7.1B", 32, 4096, 30, 2, 1, 48, 96, 192, 465.9},
                   {"16B", 48, 6144, 32, 4, 1, 48, 192, 192, 489.1},     {"32B", 56, 7168, 48, 8, 1, 48, 384, 192, 459.6},
                   {"70B", 64, 8192, 84, 8, 2, 48, 768, 384, 419.7},     {"119B", 80, 10240, 92, 8, 4, 48, 1536, 768, 420.5},
                   {"177B", 96, 12288, 96, 8, 6, 48, 2304, 1152, 432.8}, {"314B", 128, 16384, 96, 8, 8, 48, 3072, 1536, 474.4},
                   {"462B", 144, 18432, 112, 8, 16, 48, 6144, 3072, 459.9}};
  for (const Mc& r : mc) {
    int vpp = 1;
    const int per = r.layers / r.pp;
    if (r.pp > 1) vpp = per % 4 == 0 ? per / 4 : per % 3 == 0 ? per / 3 : per;  // 3-4 layers per virtual stage
    ParallelConfig c = cfg(r.dp, r.tp, r.pp, vpp, 1, r.batch, sel, r.tp > 1, 1);
    c.overlap_grad_reduce = c.overlap_param_gather = c.overlap_tp_comm = true;
    c.flash_attention = true;
    Row row{"Megatron-Core H100", fmt::format("GPT {}", r.size), gpt(r.hidden, r.layers, r.heads, 4096, 131072, "bf16"),
            fmt::format("dgx-h100x{}", r.gpus / 8), c, Measure::kMegatronCoreTflops, r.tflops,
            fmt::format("micro-batch 1, flash attention, selective{}", vpp > 1 ? fmt::format(", VPP {}", vpp) : "")};
    row.layers = r.layers, row.hidden = r.hidden, row.vocab = 131072, row.seq = 4096;
    out.push_back(row);
  }
  // BLOOM-176B (Megatron-DeepSpeed, ZeRO-1, bf16, full recomputation): 70 layers in 12 stages,
  // the embedding and head taking a layer's place on the first and last.
  {
    ParallelConfig c = cfg(8, 4, 12, 1, 2, 2048, full, false, 1);
    c.layers_per_stage = {5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5};
    out.push_back(Row{"BLOOM-176B", "BLOOM 176B", gpt(14336, 70, 112, 2048, 250880, "bf16"), "selenex48", c,
                      Measure::kSeconds, 104.7, "1F1B, vocab padded to 250880"});
  }
  // torchtitan FSDP2 on 64 A100 (bf16, flash attention through SDPA).
  struct Tt { const char* name; std::string model; int local; ActivationRecompute r; double tokens; };
  const Tt tt[] = {
      {"Llama 3 8B", "llama:hidden=4096,layers=32,heads=32,kv_heads=8,ffn=14336,seq=8192,vocab=128256", 1, sel, 2904},
      {"Llama 3 70B", "llama:hidden=8192,layers=80,heads=64,kv_heads=8,ffn=28672,seq=8192,vocab=128256", 1, full, 331},
      {"Llama 2 13B", "llama:hidden=5120,layers=40,heads=40,kv_heads=40,ffn=13824,seq=4096,vocab=32000", 2, none, 2162},
      {"Llama 2 70B", "llama:hidden=8192,layers=80,heads=64,kv_heads=8,ffn=28672,seq=4096,vocab=32000", 2, full, 353}};
  for (const Tt& r : tt) {
    ParallelConfig c = cfg(64, 1, 1, 1, r.local, 64 * r.local, r.r, false, 3);
    c.flash_attention = true;
    c.overlap_grad_reduce = c.overlap_param_gather = true;
    Row row{"torchtitan FSDP2", r.name, r.model, "selenex8", c, Measure::kTokensPerGpu, r.tokens,
            "selective = attention core"};
    row.seq = r.model.find("seq=8192") != std::string::npos ? 8192 : 4096;
    out.push_back(row);
  }
  return out;
}

inline double measured_seconds(const Row& r) {
  const double B = static_cast<double>(r.config.effective_global_batch()), s = r.seq, l = r.layers, h = r.hidden, V = r.vocab;
  const double gpus = static_cast<double>(r.config.num_devices());
  switch (r.measure) {
    case Measure::kSeconds: return r.measured;
    case Measure::kMegatron2021Tflops:
      return 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h)) / (r.measured * 1e12 * gpus);
    case Measure::kMegatronCoreTflops:
      return 72 * B * s * l * h * h * (1 + s / (6 * h) + V / (12 * l * h)) / (r.measured * 1e12 * gpus);
    case Measure::kTokensPerGpu: return static_cast<double>(r.config.micro_batch_size) * s / r.measured;
  }
  return 0;
}

}  // namespace calibration
