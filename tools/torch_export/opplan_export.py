#!/usr/bin/env python3
"""Export a PyTorch module as an opplan graph JSON file (docs/torch-export.md).

A thin command-line wrapper over the Python package's exporter (python/opplan/torch/_fx_export.py,
``opplan.torch``), kept for scripts that call it by path:

    opplan_export.py --model resnet50 [--batch N] [--output FILE]
    opplan_export.py --module pkg.mod:factory --input-shape 8,3,224,224 [--output FILE]
    opplan_export.py --module path/to/file.py:factory [--output FILE]

It needs only torch: the exporter is pure Python and is loaded from the source tree beside this
file, or else from an installed ``opplan`` package. ``from opplan_export import export_module``
keeps working (the exporter's names are re-exported here); new code should use
``opplan.torch.export``.
"""
import importlib.util
import os
import sys


def _load_exporter():
    here = os.path.dirname(os.path.abspath(__file__))
    source = os.path.join(here, os.pardir, os.pardir, "python", "opplan", "torch", "_fx_export.py")
    if os.path.isfile(source):
        spec = importlib.util.spec_from_file_location("opplan_torch_fx_export", source)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    from opplan.torch import _fx_export  # an installed package
    return _fx_export


_exporter = _load_exporter()
globals().update({k: v for k, v in vars(_exporter).items() if not k.startswith("__")})

if __name__ == "__main__":
    sys.exit(_exporter.main())
