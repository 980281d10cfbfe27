#!/usr/bin/env python3
"""Writes the type stub of the extension module (opplan/_opplan.pyi) from the signatures pybind11
puts in its docstrings, so that the stub always matches the built bindings.

    make_stubs.py OUTPUT.pyi      (with the built package on PYTHONPATH)

Run by the build after the extension links (python/CMakeLists.txt); the stub is installed beside it.
"""
import importlib
import inspect
import re
import sys

HEADER = '''# Type stub of opplan._opplan, generated from the bindings' signatures by python/tools/make_stubs.py.
from __future__ import annotations

import typing
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union, overload

'''

_PREFIX = re.compile(r"\bopplan\._opplan\.")
_DEFAULT_OBJECT = re.compile(r"=\s*<[^<>]*>")


def _clean(sig: str) -> str:
    sig = _PREFIX.sub("", sig)
    sig = _DEFAULT_OBJECT.sub("= ...", sig)
    sig = re.sub(r":\s*kwargs\b", "", sig)  # pybind11 writes **kwargs as "**kwargs" already
    sig = sig.replace("*args: Any", "*args").replace("numpy.", "")
    # Defaults that are not literals (reprs of objects) become "...".
    sig = re.sub(r"= (PlanStrategy|DType|Phase|PlanObjective|Placement|ScheduleKind)\.[A-Z_0-9]+", "= ...", sig)
    # Arguments the bindings take as plain Python objects, with the types they accept.
    for arg, typ in (("cost_model", "Optional[CostModel]"), ("progress", "Optional[Callable[[PlanProgress], Any]]"),
                     ("score", "Optional[Callable[[Schedule], float]]"), ("stop", "Optional[StopFlag]")):
        sig = re.sub(rf"\b{arg}: [A-Za-z]+ = None", f"{arg}: {typ} = None", sig)
    sig = re.sub(r"\bobject\b", "Any", sig)
    return sig


def _signatures(name: str, doc: str):
    """(signature, docstring) pairs from a pybind11 docstring; several when overloaded."""
    if not doc:
        return [(f"{name}(*args, **kwargs) -> Any", "")]
    lines = doc.strip().splitlines()
    if len(lines) > 1 and lines[1].strip() == "Overloaded function.":
        parts = re.split(r"\n\s*\d+\. (?=" + re.escape(name) + r"\()", "\n" + doc)
        out = []
        for part in parts[1:]:
            sig, _, rest = part.strip().partition("\n")
            out.append((sig.strip(), rest.strip()))
        return out
    sig, _, rest = doc.strip().partition("\n")
    if not sig.startswith(name + "("):
        return [(f"{name}(*args, **kwargs) -> Any", doc.strip())]
    return [(sig.strip(), rest.strip())]


def _doc_lines(doc: str, indent: str):
    if not doc:
        return []
    doc = doc.replace('"""', "'''").replace("\\", "\\\\")
    return [f'{indent}"""{doc}"""']


def _function(name, obj, indent="", method=False, static=False):
    sigs = _signatures(name, getattr(obj, "__doc__", "") or "")
    out = []
    for sig, doc in sigs:
        sig = _clean(sig)
        if static:
            out.append(f"{indent}@staticmethod")
        if len(sigs) > 1:
            out.append(f"{indent}@overload")
        out.append(f"{indent}def {sig}:")
        body = _doc_lines(doc, indent + "    ")
        out.extend(body if body else [])
        out.append(f"{indent}    ...")
    return out


def _property_type(prop) -> str:
    doc = (prop.fget.__doc__ or "") if prop.fget else ""
    m = re.match(r"\(self: [^)]*\) -> (.*)", doc.strip().splitlines()[0] if doc.strip() else "")
    return _clean(m.group(1)) if m else "Any"


def _class(name, cls):
    out = []
    if issubclass(cls, BaseException):
        bases = ", ".join(b.__name__ for b in cls.__bases__)
        out.append(f"class {name}({bases}):")
        out.extend(_doc_lines(cls.__doc__ or "", "    "))
        out.append("    code: str")
        return out
    bases = [b.__name__ for b in cls.__bases__ if b.__name__ != "pybind11_object"]
    out.append(f"class {name}({', '.join(bases)}):" if bases else f"class {name}:")
    out.extend(_doc_lines(cls.__doc__ or "", "    "))
    members = getattr(cls, "__members__", None)
    if isinstance(members, dict):
        for member in members:
            out.append(f"    {member}: typing.ClassVar[{name}]")
        out.append("    @property\n    def name(self) -> str: ...")
        out.append("    @property\n    def value(self) -> int: ...")
    for attr, obj in vars(cls).items():
        if attr.startswith("__") and attr not in ("__init__", "__len__", "__eq__", "__str__", "__bool__", "__copy__",
                                                   "__deepcopy__", "__iter__"):
            continue
        if attr in ("name", "value") and isinstance(members, dict):
            continue
        if isinstance(obj, property):
            t = _property_type(obj)
            if obj.fset is not None:
                out.append(f"    {attr}: {t}")
            else:
                out.append(f"    @property\n    def {attr}(self) -> {t}: ...")
        elif isinstance(obj, staticmethod):
            out.extend(_function(attr, obj.__func__, "    ", static=True))
        elif callable(obj):
            out.extend(_function(attr, obj, "    ", method=True))
    if len(out) == 1:
        out.append("    ...")
    return out


def main(argv):
    if len(argv) != 2:
        print("usage: make_stubs.py OUTPUT.pyi", file=sys.stderr)
        return 2
    mod = importlib.import_module("opplan._opplan")
    lines = [HEADER, "__version__: str", ""]
    names = sorted(n for n in dir(mod) if not n.startswith("_"))
    classes = [n for n in names if inspect.isclass(getattr(mod, n))]
    # Base classes first (CostModel before AnalyticCostModel, Error before its subclasses).
    ordered = []
    def add(n):
        if n in ordered:
            return
        for b in getattr(mod, n).__bases__:
            if b.__name__ in classes:
                add(b.__name__)
        ordered.append(n)
    for n in classes:
        add(n)
    for n in ordered:
        lines.extend(_class(n, getattr(mod, n)))
        lines.append("")
    for n in names:
        obj = getattr(mod, n)
        if n in classes:
            continue
        if callable(obj):
            lines.extend(_function(n, obj))
            lines.append("")
        elif isinstance(obj, str):
            lines.append(f"{n}: str")
    text = "\n".join(lines) + "\n"
    compile(text, argv[1], "exec")  # the stub must at least be valid Python
    with open(argv[1], "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
