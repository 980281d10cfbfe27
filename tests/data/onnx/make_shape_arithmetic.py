#!/usr/bin/env python3
"""Writes shape_arithmetic.onnx for tests/io/onnx_import_test.cpp: torch.onnx.export (opset 13) of a
block whose shapes pass through `x.size()` arithmetic, as ShuffleNet-V2's and ViT's do:

    x [2, 8, 6, 6]
    stem     Conv 8 -> 8, 1x1                       -> [2, 8, 6, 6]
    a, b     chunk(2, dim=1)   (Shape/Gather/Div/Slice)  -> [2, 4, 6, 6] each
    branch   Conv 4 -> 4, 3x3, pad 1 on b            -> [2, 4, 6, 6]
    cat      cat(a, branch)                          -> [2, 8, 6, 6]
    shuffle  view(n, 2, c // 2, h, w).transpose(1, 2).view(n, c, h, w)
    tokens   flatten(2).transpose(1, 2)              -> [2, 36, 8]
    cls      cat(token.expand(n, -1, -1), tokens)    -> [2, 37, 8]  (Where(Equal(shape, -1)))
    head     Linear 8 -> 4                           -> [2, 37, 4]

Run with Debian's python3-torch: /usr/bin/python3 tests/data/onnx/make_shape_arithmetic.py
"""
import os
import warnings

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(8, 8, 1)
        self.branch = nn.Conv2d(4, 4, 3, padding=1)
        self.token = nn.Parameter(torch.zeros(1, 1, 8))
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        x = self.stem(x)
        a, b = x.chunk(2, dim=1)
        x = torch.cat((a, self.branch(b)), dim=1)
        n, c, h, w = x.size()
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        tokens = x.flatten(2).transpose(1, 2)
        tokens = torch.cat((self.token.expand(n, -1, -1), tokens), dim=1)
        return self.head(tokens)


def main():
    torch.manual_seed(0)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shape_arithmetic.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Block().eval(), (torch.randn(2, 8, 6, 6),), path, opset_version=13,
                          input_names=["x"], output_names=["y"])
    print("wrote", path)


if __name__ == "__main__":
    main()
