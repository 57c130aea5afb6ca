"""Successive halving replayed on bench_rung_fidelity.py's schedules: what each fidelity
saves and what it loses when it picks one parameter set among several.

Every parameter set of a results.json has been trained every way a rung can be: its full
schedule (whose history holds the value after each epoch), a complete schedule for each
rung length from scratch, and the rungs as one continued chain. So synchronous successive
halving over any group of those sets can be replayed without training: all sets train
the first rung, the best 1/R of them (at least one) train their next rung, and so on; a
set that reaches its own full length is complete, and the search picks the best complete
value. Three fidelities, as the pruners judge:

- scratch:   each rung a complete schedule from scratch (`--pruner rungs`, its rungs:
             rung_lengths without a last rung nearly as long as the set); a survivor
             pays every rung's whole length
- continued: each rung continued from the last one's end (`--pruner rungs-continued`,
             every rung); a survivor pays its own length
- in-run:    the value after epoch r of the full schedule, at the same rungs (ASHA,
             Hyperband, and the median pruner's view); a survivor pays its own length

For every group of --group sets drawn from those trained (all groups when there are few,
else --draws random ones), against training every set of the group in full (the
unpruned search over the same candidates): the share of that compute spent, how often
the pick is the group's best set, and the regret, the picked set's final value from
scratch minus the group's best (a continued pick's own, continued, value is given apart).
The replay leaves out what only a live study shows: how the sampler moves once it sees
rung values (bench_search_efficiency.py measures that).

    python tests/benchmarks/bench_rung_replay.py DIR/results.json [--group 9] [--first 3] [--reduction 3]
"""

import argparse
import itertools
import json
import math
import statistics
from pathlib import Path

import numpy as np

from skp.tune.pruners import rung_lengths

FIDELITIES = ("scratch", "continued", "in-run")


def ladders(results: dict, first: int, reduction: int) -> dict[int, dict[str, list[int]]]:
    """{set: {fidelity: rung lengths, ending with the set's full length}} of the sets
    trained every way the fidelities need."""
    found = {}
    for index, full in sorted({int(k.split("|")[0]): v["full"] for k, v in results.items()}.items()):
        scratch, every = rung_lengths(first, reduction, full), rung_lengths(first, reduction, full, continued=True)
        if all(f"{index}|{length}" in results for length in scratch) and all(f"{index}|c{length}" in results for length in every):
            found[index] = {"scratch": scratch, "continued": every, "in-run": every}
    return found


def rung_value(results: dict, index: int, length: int, full: int, fidelity: str) -> float:
    if fidelity == "scratch":
        return results[f"{index}|{length}"]["selected"]
    if fidelity == "continued":
        return results[f"{index}|c{length}"]["selected"]
    return results[f"{index}|{full}"]["values"][length - 1]


def halve(results: dict, group: list[int], ladder: dict, fidelity: str, reduction: int, sign: float) -> tuple[int, int]:
    """(picked set, epochs spent) of synchronous successive halving over `group`."""
    alive, complete, spent, level = list(group), {}, 0, 0
    while alive:
        values = {}
        for index in alive:
            lengths = ladder[index][fidelity]  # a set still alive has not reached its last rung
            length, before = lengths[level], lengths[level - 1] if level else 0
            spent += length if fidelity == "scratch" else length - before
            values[index] = sign * rung_value(results, index, length, lengths[-1], fidelity)
            if length == lengths[-1]:
                complete[index] = values[index]
        # a complete set takes its place among the best, so fewer train on
        keep = math.ceil(len(alive) / reduction)
        alive = [i for i in sorted(alive, key=values.get)[:keep] if i not in complete]
        level += 1
    return min(complete, key=complete.get), spent


def groups_of(indices: list[int], size: int, draws: int, seed: int) -> list[list[int]]:
    if math.comb(len(indices), size) <= draws:
        return [list(g) for g in itertools.combinations(indices, size)]
    rng = np.random.default_rng(seed)
    return [sorted(rng.choice(indices, size, replace=False).tolist()) for _ in range(draws)]


def replay(results: dict, group_size: int = 9, first: int = 3, reduction: int = 3, draws: int = 2000,
           maximize: bool = False) -> list[dict]:
    """One row per fidelity: compute share, picks of the group's best, regret."""
    ladder = ladders(results, first, reduction)
    indices = sorted(ladder)
    size = min(group_size, len(indices))
    if size < 2:
        return []
    sign = -1.0 if maximize else 1.0
    full = {i: ladder[i]["scratch"][-1] for i in indices}
    final = {i: results[f"{i}|{full[i]}"]["selected"] for i in indices}
    rows = []
    for fidelity in FIDELITIES:
        shares, regrets, own, found = [], [], [], 0
        for group in groups_of(indices, size, draws, seed=0):
            picked, spent = halve(results, group, ladder, fidelity, reduction, sign)
            best = min(group, key=lambda i: sign * final[i])
            shares.append(spent / sum(full[i] for i in group))
            regrets.append(sign * (final[picked] - final[best]))
            if fidelity == "continued":
                own.append(sign * (results[f"{picked}|c{full[picked]}"]["selected"] - final[best]))
            found += picked == best
        rows.append({"fidelity": fidelity, "groups": len(shares), "size": size, "sets": len(indices),
                     "compute": statistics.fmean(shares), "found": found / len(shares),
                     "regret": statistics.fmean(regrets), "regret_sd": statistics.pstdev(regrets),
                     "own_regret": statistics.fmean(own) if own else None})
    return rows


def print_replay(rows: list[dict], reduction: int) -> None:
    if not rows:
        print("replay: fewer than 2 sets trained every way")
        return
    first = rows[0]
    print(f"\nsuccessive halving (reduction {reduction}) replayed over {first['groups']} groups of {first['size']} of the "
          f"{first['sets']} sets trained every way, against training each group's sets in full")
    print("| fidelity | compute (share of full training) | picks the group's best | regret of the pick, from scratch (mean ± sd) "
          "| the pick's own value, minus the best |")
    print("|---|---|---|---|---|")
    for row in rows:
        own = f"{row['own_regret']:+.4f}" if row["own_regret"] is not None else "same"
        print(f"| {row['fidelity']} | {row['compute']:.2f} | {row['found']:.0%} | {row['regret']:+.4f} ± {row['regret_sd']:.4f} | {own} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="bench_rung_fidelity.py's results.json")
    parser.add_argument("--group", type=int, default=9, help="sets the search picks from")
    parser.add_argument("--first", type=int, default=3, help="the first rung's length (--pruner-warmup)")
    parser.add_argument("--reduction", type=int, default=3)
    parser.add_argument("--draws", type=int, default=2000, help="groups drawn when there are more")
    parser.add_argument("--maximize", action="store_true", help="the value is better higher (default: lower, a loss)")
    args = parser.parse_args()
    results = json.loads(args.results.read_text())
    print_replay(replay(results, args.group, args.first, args.reduction, args.draws, args.maximize), args.reduction)


if __name__ == "__main__":
    main()
