"""evaluate(): a ParallelConfig's time and memory from Python (evaluate.hpp, docs/evaluate.md)."""
import opplan
import pytest


def test_evaluate_gpt_with_tensor_and_pipeline_parallelism():
    graph = opplan.zoo_model("gpt3-1.3b")
    config = opplan.ParallelConfig(tp=2, pp=2, dp=2, global_batch=16, recompute="selective")
    ev = opplan.evaluate(graph, opplan.Cluster.dgx_a100(), config)
    assert ev.num_devices == 8
    assert ev.num_micro_batches == 8
    assert ev.fits
    assert 0 < ev.mfu < 1
    m = ev.peak_memory
    assert m.total == pytest.approx(m.weights + m.gradients + m.optimizer + m.activations + m.buffers + m.reserve)
    # Adam on 16-bit weights: 2 + 2 + 12 bytes per parameter.
    assert m.optimizer == pytest.approx(6 * m.weights)
    assert len(ev.stages) == 2
    assert '"format": "opplan.evaluation"' in ev.to_json()


def test_optimizer_changes_the_memory():
    graph = opplan.zoo_model("gpt3-350m")
    config = opplan.ParallelConfig(dp=8)
    adam = opplan.evaluate(graph, opplan.Cluster.dgx_a100(), config)
    sgd = opplan.evaluate(graph, opplan.Cluster.dgx_a100(), config,
                          opplan.AnalyticCostModel(optimizer=opplan.Optimizer.SGD))
    assert sgd.peak_memory.optimizer == pytest.approx(adam.peak_memory.optimizer / 3)


def test_megatron_line_and_model_spec():
    line = opplan.parse_megatron_args(
        "--tensor-model-parallel-size 8 --num-layers 4 --hidden-size 1024 --num-attention-heads 16 "
        "--seq-length 512 --world-size 8")
    assert line.config.tp == 8 and line.config.dp == 1
    graph = opplan.model_from_spec(line.model_spec)
    assert graph.sequence_length == 512
    ev = opplan.evaluate(graph, opplan.Cluster.dgx_a100(), line.config)
    assert ev.breakdown.tp_comm > 0


def test_bad_configuration_raises_with_the_reason():
    graph = opplan.zoo_model("gpt3-1.3b")
    with pytest.raises(opplan.Error, match="dp x tp x pp x cp = 4 x 1 x 1 x 1 = 4 devices"):
        opplan.evaluate(graph, opplan.Cluster.dgx_a100(), opplan.ParallelConfig(dp=4))
    with pytest.raises(opplan.Error, match="unknown flag --frobnicate"):
        opplan.parse_megatron_args("--frobnicate 1")
