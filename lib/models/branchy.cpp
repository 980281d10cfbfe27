// Branch-rich graphs for the operator-level planner (models.hpp, BranchyConfig): where a stage
// pipeline must cut a chain, these have parallel branches that separate devices can run at once.
// Costs follow the zoo's builder conventions (builder.hpp): token matmuls, fp16.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include <opplan/models.hpp>

#include "models/builder.hpp"

OPPLAN_BEGIN_NAMESPACE

using models_detail::In;
using models_detail::ModelBuilder;

namespace {

// A chain of `depth` linear + GELU pairs of width `h` -> `h` (an Inception branch, an expert, a
// tower layer), tagged `layer`; returns its last op.
OpId mlp_chain(ModelBuilder& m, const std::string& prefix, const std::string& layer, OpId input, std::int64_t b,
               std::int64_t s, std::int64_t h, int depth) {
  OpId x = input;
  for (int k = 0; k < depth; ++k) {
    x = m.linear(fmt::format("{}.fc{}", prefix, k), layer, In{x}, b, s, h, h, true);
    x = m.elementwise(fmt::format("{}.gelu{}", prefix, k), layer, {In{x}}, {b, s, h}, "b s h -> b s h", 8, 12, true);
  }
  return x;
}

// Joins branches: an elementwise sum of equal shapes (a concat followed by a projection costs the same order).
OpId join(ModelBuilder& m, const std::string& name, const std::string& layer, const std::vector<OpId>& parts,
          std::int64_t b, std::int64_t s, std::int64_t h) {
  // elementwise() takes an initializer list; join pairwise so any branch count works.
  OpId acc = parts.front();
  for (std::size_t k = 1; k < parts.size(); ++k)
    acc = m.elementwise(fmt::format("{}.{}", name, k), layer, {In{acc}, In{parts[k]}}, {b, s, h}, "b s h, b s h -> b s h",
                        1, 1, false);
  return acc;
}

}  // namespace

const char* to_string(BranchyModel model) {
  switch (model) {
    case BranchyModel::kInceptionStack: return "inception-stack";
    case BranchyModel::kMoeStack: return "moe-stack";
    case BranchyModel::kTwoTower: return "two-tower";
  }
  return "?";
}

bool BranchyConfig::IsValid(std::string* error) const {
  std::string e;
  if (blocks < 1) e = fmt::format("blocks: must be >= 1, got {}", blocks);
  else if (branches < 2) e = fmt::format("branches: must be >= 2, got {}", branches);
  else if (hidden < 1 || tokens < 1) e = fmt::format("hidden and tokens: must be >= 1, got {} and {}", hidden, tokens);
  if (error) *error = e;
  return e.empty();
}

Result<Graph> build_branchy(const BranchyConfig& c) {
  std::string error;
  if (!c.IsValid(&error)) return Status(StatusCode::kInvalidArgument, "BranchyConfig: " + error);
  ModelBuilder m(c.name.empty() ? to_string(c.model) : c.name, DType::kF16);
  const std::int64_t b = 1, s = c.tokens, h = c.hidden;
  OpId x = m.linear("stem", "stem", In{m.embedding(b, s, 32000, h)}, b, s, h, h, true);
  switch (c.model) {
    case BranchyModel::kInceptionStack:
      // Block i: branches of depth 1, 2, ..., `branches` (Inception's 1x1 / 3x3 / double 3x3 / pool
      // paths are likewise unequal), summed.
      for (int i = 0; i < c.blocks; ++i) {
        const std::string layer = fmt::format("block{}", i);
        std::vector<OpId> outs;
        for (int k = 0; k < c.branches; ++k)
          outs.push_back(mlp_chain(m, fmt::format("{}.branch{}", layer, k), layer, x, b, s, h, k + 1));
        x = join(m, layer + ".concat", layer, outs, b, s, h);
      }
      break;
    case BranchyModel::kMoeStack:
      // Layer i: a dense projection, then `branches` experts side by side, each on its share of
      // the tokens (top-1 routing with balanced load), added back into the token tensor one after
      // another (the combine).
      for (int i = 0; i < c.blocks; ++i) {
        const std::string layer = fmt::format("layer{}", i);
        x = m.linear(layer + ".attn_proj", layer, In{x}, b, s, h, h, true);
        const std::int64_t share = std::max<std::int64_t>(1, s / c.branches);
        const double share_bytes = double(b * share * h) * m.e();
        OpId combined = x;  // the residual stream the experts' outputs are added back into
        for (int k = 0; k < c.branches; ++k) {
          const std::string prefix = fmt::format("{}.expert{}", layer, k);
          // Dispatch: this expert's share of the tokens (a gather; "b q" is solved from the bytes).
          Op dispatch = m.base(prefix + ".dispatch", layer, "reshape", {b, share, h}, "b q -> b t h");
          dispatch.forward = models_detail::phase(0, 2 * share_bytes);
          dispatch.input_grad = models_detail::phase(0, 2 * share_bytes);
          const OpId tokens = m.add(std::move(dispatch), {In{x, share_bytes}});
          OpId up = m.linear(prefix + ".fc1", layer, In{tokens}, b, share, h, 4 * h, true);
          up = m.elementwise(prefix + ".gelu", layer, {In{up}}, {b, share, 4 * h}, "b s h -> b s h", 8, 12, true);
          const OpId down = m.linear(prefix + ".fc2", layer, In{up}, b, share, 4 * h, h, true);
          // Combine: scatter-add of the expert's tokens into the token tensor.
          Op combine = m.base(prefix + ".combine", layer, "elementwise", {b, s, h}, "b s h, b t h -> b s h");
          combine.forward = models_detail::phase(double(b * share * h), 2 * share_bytes + double(b * s * h) * m.e());
          combine.input_grad = models_detail::phase(double(b * share * h), 2 * share_bytes);
          combined = m.add(std::move(combine), {In{combined}, In{down}});
        }
        x = combined;
      }
      break;
    case BranchyModel::kTwoTower: {
      // An image tower and a text tower of `blocks` layers each (the image one twice as wide),
      // fused by a sum and a head.
      OpId image = m.linear("image.patchify", "image", In{x}, b, s, h, 2 * h, true);
      OpId text = m.linear("text.embed_proj", "text", In{x}, b, s, h, h, true);
      for (int i = 0; i < c.blocks; ++i) {
        image = mlp_chain(m, fmt::format("image.layer{}", i), fmt::format("image{}", i), image, b, s, 2 * h, 1);
        text = mlp_chain(m, fmt::format("text.layer{}", i), fmt::format("text{}", i), text, b, s, h, 1);
      }
      const OpId pooled = m.linear("image.pool", "fusion", In{image}, b, s, 2 * h, h, false);
      x = join(m, "fusion.sum", "fusion", {pooled, text}, b, s, h);
      break;
    }
  }
  const OpId head = m.linear("head", "head", In{x}, b, s, h, 1024, false);
  m.loss(In{head}, {b, s, 1024}, "b s v -> b s");
  return m.take();
}

OPPLAN_END_NAMESPACE
