"""Shared fixtures of the opplan pytest suite (run by ctest against the build tree, see
python/tests/CMakeLists.txt; by hand: PYTHONPATH=build/python python3 -m pytest python/tests)."""
import os

import pytest

import opplan

DATA = os.environ.get("OPPLAN_TEST_DATA_DIR",
                      os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "tests", "data"))


@pytest.fixture
def data_dir():
    return DATA


def chain(n=4, flops=1e12, bytes_=1e6, params=1e6):
    """A chain of n matmul ops, each with forward, input-grad and weight-grad work."""
    g = opplan.Graph("chain")
    prev = None
    for i in range(n):
        op = opplan.Op(name=f"op{i}", kind="matmul", forward=opplan.PhaseCost(flops=flops, bytes=bytes_),
                       input_grad=opplan.PhaseCost(flops=flops, bytes=bytes_),
                       weight_grad=opplan.PhaseCost(flops=flops, bytes=bytes_), param_bytes=params,
                       activation_bytes=bytes_, shape=[8, 1024], dtype="f16")
        cur = g.add_op(op)
        if prev is not None:
            g.add_edge(prev, cur, bytes_)
        prev = cur
    return g


@pytest.fixture
def small_graph():
    return chain()
