#!/usr/bin/env python3
"""Exports every classification model of the installed torchvision through opplan.torch.export and
reports, per model, whether it exported and validated, its ops, and how much of it carries a
dimension annotation (issue 15's census).

    PYTHONPATH=build/python /usr/bin/python3 python/tools/torchvision_census.py [--batch 2] [--timeout 600]
        [--only NAME ...] [--json FILE]

Each model runs in its own process with a time limit (the CPU shape propagation of the largest
transformers is slow with Debian's reference BLAS). Inception-v3 takes 299 x 299 inputs, the
others 224 x 224.
"""
import argparse
import json
import multiprocessing as mp
import sys
import time


def _one(name, batch, queue, device="meta"):
    import torch
    import torchvision

    import opplan.torch as ot
    torch.manual_seed(0)
    size = 299 if name == "inception_v3" else 224
    kwargs = {"aux_logits": False, "init_weights": False} if name == "inception_v3" else {}
    start = time.time()
    try:
        model = torchvision.models.get_model(name, weights=None, **kwargs)
        try:
            # Shapes only: on the meta device nothing is computed (Debian's torch uses the reference
            # BLAS; a ViT-H takes many minutes on the CPU). Ops without a meta kernel fall back.
            graph = ot.export(model.to(device), (torch.randn(batch, 3, size, size, device=device),), name=name)
        except Exception:  # noqa: BLE001
            if device == "cpu":
                raise
            device = "cpu (meta failed)"
            model = torchvision.models.get_model(name, weights=None, **kwargs)
            graph = ot.export(model, (torch.randn(batch, 3, size, size),), name=name)
        ops = [op for op in graph.ops if op.kind != "input"]
        flops = sum(op.forward.flops for op in ops)
        annotated = [op for op in ops if op.dims]
        compute = [op for op in ops if op.forward.flops > 0]
        queue.put({"model": name, "ok": True, "ops": len(graph), "seconds": round(time.time() - start, 1), "device": device,
                   "annotated_ops": len(annotated), "computing_ops": len(compute),
                   "computing_ops_annotated": sum(1 for op in compute if op.dims),
                   "annotated_flops": (sum(op.forward.flops for op in annotated) / flops) if flops else 1.0})
    except Exception as e:  # noqa: BLE001 -- the census reports every failure
        queue.put({"model": name, "ok": False, "seconds": round(time.time() - start, 1),
                   "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--json")
    parser.add_argument("--device", default="meta", choices=["meta", "cpu"],
                        help="where shapes are propagated (default meta: no arithmetic; cpu on failure)")
    args = parser.parse_args()
    import torchvision
    names = args.only or torchvision.models.list_models(module=torchvision.models)
    results = []
    ctx = mp.get_context("fork")
    for name in names:
        queue = ctx.Queue()
        p = ctx.Process(target=_one, args=(name, args.batch, queue, args.device))
        p.start()
        p.join(args.timeout)
        if p.is_alive():
            p.kill()
            p.join()
            r = {"model": name, "ok": False, "seconds": args.timeout, "error": f"timeout after {args.timeout:.0f} s"}
        else:
            r = queue.get() if not queue.empty() else {"model": name, "ok": False, "error": f"exit code {p.exitcode}"}
        results.append(r)
        if r["ok"]:
            print(f"{name:28s} ok    {r['ops']:5d} ops  annotated {r['computing_ops_annotated']}/{r['computing_ops']} "
                  f"computing ops, {100 * r['annotated_flops']:.1f} % of FLOPs  {r['seconds']} s  {r['device']}", flush=True)
        else:
            print(f"{name:28s} FAIL  {r['error']}", flush=True)
    ok = sum(r["ok"] for r in results)
    print(f"{ok} of {len(results)} models exported and validated")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0 if ok == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
