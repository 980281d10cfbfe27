// Wide-ResNet as in Alpa's benchmark (a Flax ResNet-v1 with bottleneck blocks): a 7x7 stride-2
// stem convolution with batch norm and ReLU, a 3x3 stride-2 max pool, four stages of bottleneck
// blocks ([3, 4, 6, 3] for depth 50, [3, 4, 23, 3] for 101) with f = base_channels * 2^stage:
// 1x1 conv to f, 3x3 conv to f * width_factor (stride 2 in the first block of stages 1-3), 1x1 conv
// to 4f, each followed by batch norm (+ ReLU except the last), a 1x1 projection of the shortcut
// when the shape changes, the residual add + ReLU; global average pool, a dense classifier, loss.
//
// Annotations: activations are "b c i j" (batch, channels, height, width), a convolution
// "b c i j, r c k -> b k x y" with r = kernel height x width, so lib/sharding may split the batch
// and the channels but not space (which would need halo exchange). Each block is tagged layer<i>.
#include <opplan/models.hpp>

#include <string>
#include <utility>

#include <fmt/format.h>

#include "models/builder.hpp"

OPPLAN_BEGIN_NAMESPACE

bool WideResNetConfig::IsValid(std::string* error) const {
  auto fail = [&](std::string message) {
    if (error) *error = std::move(message);
    return false;
  };
  if (depth != 50 && depth != 101) return fail(fmt::format("WideResNetConfig.depth must be 50 or 101, got {}", depth));
  const std::pair<const char*, int> positive[] = {{"base_channels", base_channels}, {"width_factor", width_factor},
                                                  {"image_size", image_size},       {"classes", classes},
                                                  {"micro_batch", micro_batch}};
  for (const auto& [field, value] : positive)
    if (value <= 0) return fail(fmt::format("WideResNetConfig.{} must be positive, got {}", field, value));
  if (image_size % 32 != 0)
    return fail(fmt::format("WideResNetConfig.image_size must be a multiple of 32 (five stride-2 steps), got {}", image_size));
  return true;
}

namespace {

using namespace models_detail;

class WideResNetBuilder {
 public:
  explicit WideResNetBuilder(const WideResNetConfig& c) : c_(c), m_(c.name, c.dtype), b_(c.micro_batch) {}

  Graph build() {
    const std::int64_t size = c_.image_size;
    Op image = m_.base("image", "", "input", {b_, 3, size, size}, "");
    OpId x = m_.add(std::move(image), {});
    std::int64_t channels = c_.base_channels, hw = size / 2;
    x = conv("stem_conv", "", x, 3, channels, 7, hw, /*input_grad=*/false);
    x = batchnorm("stem_bn", "", x, channels, hw, true);
    hw /= 2;
    Op pool = m_.base("stem_pool", "", "pool", {b_, channels, hw, hw}, "b c i j -> b c x y");
    const double pool_in = double(b_ * channels) * double(4 * hw * hw) * m_.e(), pool_out = pool_in / 4;
    pool.forward = phase(9 * double(b_ * channels * hw * hw), pool_in + pool_out);
    pool.input_grad = phase(double(b_ * channels * hw * hw), pool_out + 2 * pool_in);
    pool.activation_bytes = pool_in;
    x = m_.add(std::move(pool), {In{x}});

    const int stage_blocks_50[4] = {3, 4, 6, 3}, stage_blocks_101[4] = {3, 4, 23, 3};
    const int* blocks = c_.depth == 50 ? stage_blocks_50 : stage_blocks_101;
    int index = 0;
    for (int stage = 0; stage < 4; ++stage) {
      const std::int64_t f = std::int64_t(c_.base_channels) << stage;
      for (int j = 0; j < blocks[stage]; ++j) {
        const bool downsample = stage > 0 && j == 0;
        x = block(index++, x, channels, f, downsample ? hw / 2 : hw);
        if (downsample) hw /= 2;
        channels = 4 * f;
      }
    }
    Op gap = m_.base("avg_pool", "", "reduce", {b_, channels}, "b c x y -> b c");
    const double gap_in = double(b_ * channels * hw * hw) * m_.e(), gap_out = double(b_ * channels) * m_.e();
    gap.forward = phase(double(b_ * channels * hw * hw), gap_in + gap_out);
    gap.input_grad = phase(double(b_ * channels * hw * hw), gap_out + gap_in);
    x = m_.add(std::move(gap), {In{x}});
    const OpId fc = m_.matmul("fc", "", In{x}, {b_, c_.classes}, "b c, c n -> b n", double(b_), double(channels),
                              double(c_.classes), double(channels) * c_.classes + c_.classes);
    m_.loss(In{fc}, {b_, c_.classes}, "b n -> b");
    m_.graph().set_samples(c_.micro_batch);
    m_.graph().set_sequence_length(0);
    return m_.take();
  }

 private:
  // k x k convolution from `in` channels to `out` on an output of hw x hw (stride implied by the
  // producer's size): 2 * b * hw^2 * in * out * k^2 FLOPs per phase.
  OpId conv(std::string name, std::string layer, OpId input, std::int64_t in, std::int64_t out, int k, std::int64_t hw,
            bool input_grad = true) {
    const Op& producer = m_.graph().op(input);
    const double x_bytes = product(producer.shape) * m_.e();
    const double y_bytes = double(b_ * out * hw * hw) * m_.e();
    const double w_bytes = double(in * out * k * k) * m_.e();
    const double flops = 2.0 * double(b_ * hw * hw) * double(in) * double(out) * k * k;
    Op op = m_.base(std::move(name), std::move(layer), "conv", {b_, out, hw, hw}, "b c i j, r c k -> b k x y");
    op.param_bytes = w_bytes;
    op.forward = phase(flops, x_bytes + w_bytes + y_bytes);
    if (input_grad) op.input_grad = phase(flops, y_bytes + w_bytes + x_bytes);
    op.weight_grad = phase(flops, y_bytes + x_bytes + w_bytes);
    op.activation_bytes = x_bytes;
    return m_.add(std::move(op), {In{input}});
  }

  // Batch norm over (batch, height, width) per channel with scale and shift, optionally fused with
  // the ReLU after it: ~6 FLOPs per element forward, ~10 backward; keeps its input.
  OpId batchnorm(std::string name, std::string layer, OpId input, std::int64_t channels, std::int64_t hw, bool relu) {
    const double elems = double(b_ * channels * hw * hw), bytes = elems * m_.e(), params = 2.0 * channels * m_.e();
    Op op = m_.base(std::move(name), std::move(layer), "batchnorm", {b_, channels, hw, hw}, "b k x y, k -> b k x y");
    op.param_bytes = params;
    op.forward = phase((relu ? 6 : 5) * elems, 2 * bytes + params);
    op.input_grad = phase((relu ? 10 : 9) * elems, 3 * bytes + params);
    op.weight_grad = phase(3 * elems, 2 * bytes + params);
    op.activation_bytes = bytes + 2.0 * channels * 4;
    return m_.add(std::move(op), {In{input}});
  }

  OpId block(int index, OpId input, std::int64_t in, std::int64_t f, std::int64_t hw_out) {
    const std::string tag = fmt::format("layer{}", index);
    auto name = [&](const char* op) { return fmt::format("{}.{}", tag, op); };
    const std::int64_t hw_in = m_.graph().op(input).shape.back(), wide = f * c_.width_factor;
    OpId y = conv(name("conv1"), tag, input, in, f, 1, hw_in);
    y = batchnorm(name("bn1"), tag, y, f, hw_in, true);
    y = conv(name("conv2"), tag, y, f, wide, 3, hw_out);
    y = batchnorm(name("bn2"), tag, y, wide, hw_out, true);
    y = conv(name("conv3"), tag, y, wide, 4 * f, 1, hw_out);
    y = batchnorm(name("bn3"), tag, y, 4 * f, hw_out, false);
    OpId shortcut = input;
    if (in != 4 * f || hw_in != hw_out) {
      shortcut = conv(name("proj"), tag, input, in, 4 * f, 1, hw_out);
      shortcut = batchnorm(name("proj_bn"), tag, shortcut, 4 * f, hw_out, false);
    }
    // Residual add and ReLU: 2 FLOPs per element; the ReLU's backward needs its output mask.
    return m_.elementwise(name("add_relu"), tag, {In{y}, In{shortcut}}, {b_, 4 * f, hw_out, hw_out},
                          "b k x y, b k x y -> b k x y", 2, 2, false);
  }

  const WideResNetConfig& c_;
  ModelBuilder m_;
  std::int64_t b_;
};

}  // namespace

Result<Graph> build_wide_resnet(const WideResNetConfig& config) {
  std::string error;
  if (!config.IsValid(&error)) return Status(StatusCode::kInvalidArgument, error);
  return WideResNetBuilder(config).build();
}

OPPLAN_END_NAMESPACE
