"""Small modules for the opplan.torch.run tests and commands: factories in the exporter's
FILE.py:FACTORY convention (each returns (module, example_inputs), one micro-batch).

    python3 -m opplan.torch.run --module python/tests/torch_run_models.py:mlp --ranks 2 --schedule zb-h1
"""
import torch
from torch import nn


def mlp():
    """Seven linear layers of width 32 with ReLUs: a plain stack."""
    torch.manual_seed(0)
    layers = []
    for _ in range(6):
        layers += [nn.Linear(32, 32), nn.ReLU()]
    layers.append(nn.Linear(32, 8))
    return nn.Sequential(*layers), (torch.randn(8, 32),)


class TinyTransformer(nn.Module):
    """Token embedding plus a learned position table, four post-norm encoder layers (batch
    first, no dropout), a final norm and a head."""

    def __init__(self, vocab=50, d=32, heads=4, layers=4, seq=8):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(seq, d) * 0.02)
        self.layers = nn.ModuleList(nn.TransformerEncoderLayer(d, heads, dim_feedforward=64, dropout=0.0,
                                                               batch_first=True) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, tokens):
        x = self.embed(tokens) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x))


def transformer():
    torch.manual_seed(0)
    return TinyTransformer(), (torch.randint(0, 50, (4, 8)),)


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)) + x)


class TinyCNN(nn.Module):
    """Conv / batch-norm / in-place ReLU, a max pool, four residual blocks (their skip connections
    cross stage boundaries), global average pooling and a classifier. (Four repeated blocks: the
    stage planner cuts at most one stage per repeated block, opplan plan on 4 ranks needs 4.)"""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                                  nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(2))
        self.blocks = nn.Sequential(*[Residual(16) for _ in range(4)])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def cnn():
    torch.manual_seed(0)
    return TinyCNN(), (torch.randn(4, 3, 16, 16),)


def timing_mlp():
    """Eight 256-wide linear layers on a batch of 64: milliseconds per op on one CPU core, so that
    the runtime's own overhead is small next to the work (the predicted-against-measured check)."""
    torch.manual_seed(0)
    layers = []
    for _ in range(8):
        layers += [nn.Linear(256, 256), nn.ReLU()]
    return nn.Sequential(*layers), (torch.randn(64, 256),)


def mean_loss():
    """A loss factory (--loss): the mean of the output."""
    return lambda out: out.mean()


class Tied(nn.Module):
    """An embedding and a head that share their weight: the runtime cannot put them on two stages."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 16)
        self.mid = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU())
        self.head = nn.Linear(16, 20, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, tokens):
        return self.head(self.mid(self.embed(tokens)))


def tied():
    torch.manual_seed(0)
    return Tied(), (torch.randint(0, 20, (4, 6)),)


class Twice(nn.Module):
    """One linear layer applied twice in a row (a weight shared within a stage), then a head."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(16, 16)
        self.mid = nn.Linear(16, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        return self.head(torch.relu(self.mid(torch.relu(self.shared(torch.relu(self.shared(x)))))))


def twice():
    torch.manual_seed(0)
    return Twice(), (torch.randn(8, 16),)
