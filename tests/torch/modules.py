"""Modules for the exporter's end-to-end tests (tests/torch/CMakeLists.txt).

Each factory returns (module, example_inputs) for `opplan_export.py --module tests/torch/modules.py:NAME`.
"""
import torch
import torch.nn as nn


class Gate(nn.Module):
    """Branches on a tensor's values: cannot be traced into a static graph."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 16)
        self.other = nn.Linear(16, 16)

    def forward(self, x):
        y = self.proj(x)
        if y.sum() > 0:  # data-dependent control flow
            return torch.relu(y)
        return self.other(y)


class GatedNet(nn.Module):
    """The gate inside a submodule: the error names the module path 'blocks.1'."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(nn.Linear(16, 16), Gate())

    def forward(self, x):
        return self.blocks(x)


def data_dependent():
    return GatedNet(), (torch.randn(4, 16),)


def data_dependent_root():
    """The branch in the root module's own forward: no submodule to make opaque."""
    return Gate(), (torch.randn(4, 16),)


def small_transformer():
    """nn.Transformer with 2 + 2 layers of width 64, 4 heads, FFN 128, on 10 source and 12 target tokens."""
    model = nn.Transformer(d_model=64, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=128)
    return model, (torch.randn(10, 2, 64), torch.randn(12, 2, 64))


class TiedMlp(nn.Module):
    """One Linear called twice: its parameters are counted once."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(32, 32)

    def forward(self, x):
        return self.shared(torch.relu(self.shared(x)))


def tied_mlp():
    return TiedMlp(), (torch.randn(8, 32),)
