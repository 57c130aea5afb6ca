"""The chaos harness's long form: many loops, each under its own seeded schedule of faults.

Each loop is the main job in small (a 2-worker study with a seed check, promotion with
2 workers, an ensemble; tests/chaos/harness.py), killed with SIGKILL or SIGTERM at named
moments or after random delays, re-run until it completes, and checked: nothing finished
lost or trained again, every finished fold whole, the study complete, promotion's OOF
files and the submission byte-identical to an uninterrupted twin's, no traceback, no
orphan process. Odd seeds run every phase as two identical commands at once.

Resumable: each finished loop is kept in <root>/results.json; re-run the same command.

    python tests/benchmarks/bench_chaos.py --root bench-chaos --loops 20 --faults 8
    python tests/benchmarks/bench_chaos.py --root bench-chaos --report
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.chaos.harness import make_schedule, run_loop  # noqa: E402


def fault_key(fault: dict) -> str:
    where = fault["moment"] if fault["kind"] == "moment" else "random delay"
    return f"{fault['phase']:9s} {where:24s} {fault['signal']:7s} to {fault['target']}"


def report(results: dict) -> None:
    loops = list(results.values())
    attempts = [a for loop in loops for a in loop["attempts"] if a["fault"]]
    scheduled, fired = Counter(), Counter()
    for a in attempts:
        scheduled[fault_key(a["fault"])] += 1
        fired[fault_key(a["fault"])] += a["fired"]
    print(f"{len(loops)} loops; faults tried {len(attempts)}, fired {sum(a['fired'] for a in attempts)}")
    print(f"{'phase     moment                   signal     target':60s} tried fired")
    for key in sorted(scheduled):
        print(f"{key:60s} {scheduled[key]:5d} {fired[key]:5d}")
    by_phase = Counter()
    for a in attempts:
        if a["fired"]:
            by_phase[a["phase"]] += 1
    print("fired by phase:", dict(by_phase))
    violations = [v for loop in loops for v in loop["violations"]]
    print(f"loops that completed: {sum(loop['completed'] for loop in loops)} of {len(loops)}; violations: {len(violations)}")
    for v in violations:
        print("  ", v)
    for phase in ("promotion", "ensemble"):
        twin = sum(loop["twin_seconds"][phase] for loop in loops)
        chaos = sum(loop["chaos_seconds"][phase] for loop in loops)
        print(f"{phase}: {chaos:.0f} s under faults against {twin:.0f} s uninterrupted ({chaos / twin:.2f}x)")
    trials = Counter()
    for loop in loops:
        trials.update(loop["study_trials"])
    print(f"study: {sum(loop['chaos_seconds']['study'] for loop in loops):.0f} s under faults over all loops; "
          f"trials by state {dict(trials)} (beyond COMPLETE: failed by a fault or refused as duplicates, then queued again)")
    print(f"files compared with the twin: {sum(loop['compared_files'] for loop in loops)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--loops", type=int, default=20)
    parser.add_argument("--faults", type=int, default=8, help="faults scheduled per phase and loop")
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    root = args.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    path = root / "results.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    if not args.report:
        for seed in range(args.first_seed, args.first_seed + args.loops):
            if str(seed) in results:
                continue
            print(f"loop {seed}", flush=True)
            schedule = make_schedule(seed, args.faults)
            results[str(seed)] = run_loop(root / "loop", schedule, root / "data", concurrent=seed % 2 == 1, seed=seed)
            path.write_text(json.dumps(results, indent=1))
            print(f"loop {seed}: {len(results[str(seed)]['violations'])} violation(s)", flush=True)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
