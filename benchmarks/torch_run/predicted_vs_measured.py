#!/usr/bin/env python3
"""Predicted against measured makespan of a profiled 2-rank plan, over repeated attempts.

    PYTHONPATH=build/python /usr/bin/python3 benchmarks/torch_run/predicted_vs_measured.py [--attempts 5]
        [--module python/tests/torch_run_models.py:timing_mlp] [--ranks 2] [--microbatches 4]
        [--iterations 5] [--json]

Each attempt: profile every op on this machine (opplan.torch.run.profile, CPU seconds), measure the
gloo link, plan with opplan.plan(strategy="pipeline-only") on those costs, run that plan (one
warm-up and --iterations measured iterations) and compare the plan's makespan with the median
measured one. It also prints the ranks' CPU time in their actions against the plan's busy time (the
costs' own accuracy; it moves less with the machine's load) and how many cores the machine's other processes
kept busy: on a shared machine the ranks get a fraction of a core and the wall-clock makespan
stretches by that much. Not run by ctest (python/tests/test_torch_run_timing.py is the check).
"""
import argparse
import json
import os
import statistics
import sys

import torch

import opplan
import opplan.torch
import opplan.torch.run as runner


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, os.pardir, os.pardir, "python", "tests", "torch_run_models.py") + ":timing_mlp"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default=os.path.normpath(default))
    parser.add_argument("--attempts", type=int, default=5)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--microbatches", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    module, inputs = runner._load_module(args.module, [])
    graph = opplan.torch.export(module, inputs)
    rows = []
    for k in range(args.attempts):
        load = runner._MachineLoad()
        doc = runner.profile(module, inputs)
        cluster = runner.local_cluster(args.ranks, runner.measure_link())
        plan = opplan.plan(graph, cluster, strategy="pipeline-only", micro_batches=args.microbatches, time_limit=10,
                           cost_model=opplan.ProfiledCostModel.from_json(json.dumps(doc)))
        result = runner.run(module, inputs, plan=plan, iterations=args.iterations, warmup=1)
        sp = result.spread()
        rows.append({"attempt": k, "predicted_seconds": plan.iteration_seconds, "measured_seconds": sp["median"],
                     "measured_min": sp["min"], "measured_max": sp["max"],
                     "error": (sp["median"] - plan.iteration_seconds) / plan.iteration_seconds,
                     "work_error": result.work_error(), "rank_work_error": result.busy_error(),
                     "cpu_share": result.cpu_share(), "other_load": load.others(),
                     "ok": result.ok})
        if not args.json:
            r = rows[-1]
            print(f"attempt {k}: predicted {r['predicted_seconds'] * 1e3:7.1f} ms, "
                  f"measured {r['measured_seconds'] * 1e3:7.1f} ms "
                  f"({r['measured_min'] * 1e3:.1f} .. {r['measured_max'] * 1e3:.1f}), {r['error']:+6.1%}; work "
                  f"{r['work_error']:+.1%} ({', '.join(f'{x:+.1%}' for x in r['rank_work_error'])}); CPU share "
                  f"{', '.join(f'{x:.0%}' for x in r['cpu_share'])}; other processes "
                  f"{r['other_load']:.2f} of {os.cpu_count()} cores", flush=True)
    errors = [r["error"] for r in rows]
    summary = {"attempts": rows, "median_error": statistics.median(errors), "min_error": min(errors),
               "max_error": max(errors),
               "median_work_error": statistics.median(abs(r["work_error"]) for r in rows),
               "median_other_load": statistics.median(r["other_load"] or 0.0 for r in rows)}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"makespan error: median {summary['median_error']:+.1%} (from {summary['min_error']:+.1%} to "
              f"{summary['max_error']:+.1%}); work error: median {summary['median_work_error']:.1%}; "
              f"other processes: median {summary['median_other_load']:.2f} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
