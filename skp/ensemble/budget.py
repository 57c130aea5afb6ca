"""A submission that fits an inference budget: which members, TTA views and fold
checkpoints to predict with (skp-ensemble --budget SECONDS, or Recipe(budget=...)).

Every candidate is a set of members, the first V of the recipe's TTA views (the plain
view first) and the first C fold checkpoints of each member (or its soup). Its cost is
what the members' measured seconds per image (skp.ensemble.costs) add up to on this test
set; its score is the OOF score of the plain mean of its members' predictions under those
views. A plain mean fits nothing on the rows, so that score needs no cross-validation,
and a single member is a candidate too: the choice never scores below the best single
piece that fits. The recipe's blend then runs on the chosen pieces.

Cross-validation cannot see the number of fold checkpoints (each OOF row comes from one
model), so among the candidates of one member set and view count, the one with the most
checkpoints that fit is taken: averaging fold models is what their test predictions
gain from, and the budget is what limits it. Nor can it weigh checkpoints against
members: three members of one checkpoint each score better on CV than one member of
three checkpoints, because CV compares them as three models against one. For log loss
each candidate is therefore judged by its expected test score, its OOF score less what
averaging its fold models buys on test (skp.ensemble.fold_pooling, estimated without
test labels); for other metrics by its OOF score. On Fashion-MNIST, at the cost of four
models, the OOF score chose four members of one checkpoint (test log loss 0.2766) and
the expected score one member of three (0.2647).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from skp.ensemble.fold_pooling import LOG_LOSS, pooling_gain, views_averaged
from skp.errors import SkpError

MAX_SUBSET_MEMBERS = 10  # 1,023 member sets; beyond, members are added greedily
# the choice as a recipe of its own, in the output folder: it predicts only the chosen pieces
WITHIN_BUDGET_FILE = "within_budget.py"


@dataclass
class Candidate:
    members: tuple[int, ...]
    views: int
    checkpoints: int
    seconds: float
    score: float  # OOF
    expected: float | None = None  # on test, for log loss: score less the fold models' pooling gain

    @property
    def value(self) -> float:
        """What the choice weighs: the expected test score where there is one."""
        return weighed({"score": self.score, "expected": self.expected})


def piece_seconds(cost: dict, views: list[str], checkpoints: int, images: int) -> float:
    per_image = sum(cost["views"][v]["load"] + sum(cost["views"][v]["models"][:checkpoints]) for v in views)
    return per_image * images


def _member_sets(count: int, order: list[int] | None):
    """Every non-empty set of members, or with many members the nested sets of `order`
    (best first): 1, then 1 and 2, ... so that the search stays small."""
    if count <= MAX_SUBSET_MEMBERS:
        for size in range(1, count + 1):
            yield from combinations(range(count), size)
    else:
        for size in range(1, count + 1):
            yield tuple(sorted(order[:size]))


def _best_first(pieces: list[dict], view: str, scorer) -> list[int]:
    singles = [scorer(p["oof"][view]) for p in pieces]
    return sorted(range(len(pieces)), key=lambda i: -singles[i] if scorer.direction == "max" else singles[i])


def _fold_tests(pieces: list[dict], view_order: list[str]) -> dict:
    """(member, views) -> its checkpoints' test predictions under the first `views` views,
    averaged over them: (checkpoints, N_test, K)."""
    return {(m, views): views_averaged(piece["test"], view_order[:views])
            for m, piece in enumerate(pieces) for views in range(1, len(view_order) + 1)}


def _mean(preds: list[np.ndarray]) -> np.ndarray:
    return np.mean(preds, axis=0)


def candidates(pieces: list[dict], costs: list[dict], view_order: list[str], scorer, budget: float, images: int):
    """(every member set and view count with the most checkpoints that fit the budget; those
    that do not fit even with one checkpoint, with all their checkpoints: what more time
    would buy). Each set's OOF score is computed once, for both."""
    order = _best_first(pieces, view_order[0], scorer) if len(pieces) > MAX_SUBSET_MEMBERS else None
    fold_tests = _fold_tests(pieces, view_order) if (scorer.metric, scorer.name) == LOG_LOSS else None

    def expected(members, views, checkpoints, score):
        if fold_tests is None:
            return None
        if checkpoints < 2:  # one model per member: nothing averaged beyond what OOF scores
            return score
        tests = [fold_tests[m, views][:checkpoints] for m in members]
        return score - pooling_gain(_mean, tests, scorer.problem)

    found, over = [], []
    for members in _member_sets(len(pieces), order):
        for views in range(1, len(view_order) + 1):
            chosen_views = view_order[:views]
            oof = np.mean([np.mean([pieces[m]["oof"][v] for v in chosen_views], axis=0) for m in members], axis=0)
            score = scorer(oof)
            most = min(len(costs[m]["views"][chosen_views[0]]["models"]) for m in members)
            seconds = {c: sum(piece_seconds(costs[m], chosen_views, c, images) for m in members) for c in range(1, most + 1)}
            fits = [c for c, s in seconds.items() if s <= budget]
            if fits:
                found.append(Candidate(members, views, fits[-1], seconds[fits[-1]], score, expected(members, views, fits[-1], score)))
            if seconds[most] > budget:
                over.append(Candidate(members, views, most, seconds[most], score, expected(members, views, most, score)))
    return found, over


def choose(found: list[Candidate], better) -> Candidate:
    """The best value (expected test score, else OOF score); ties go to the cheaper candidate."""
    best = found[0]
    for candidate in found[1:]:
        if better(candidate.value, best.value) or (candidate.value == best.value and candidate.seconds < best.seconds):
            best = candidate
    return best


def apply_budget(members: list, pieces: dict, costs: list, view_order: list[str], scorer, budget: float, images: int):
    """(the chosen members, their oof and test set to the chosen pieces; the summary)."""
    missing = [m.name for m, cost in zip(members, costs) if cost is None]
    if missing:
        raise SkpError(
            f"--budget weighs measured inference costs, and {', '.join(missing)} has none (prediction files, or "
            f"predictions cached before costs were recorded). Run with --no-cache once, or drop those members."
        )
    member_pieces = [pieces[m.name] for m in members]
    found, over = candidates(member_pieces, costs, view_order, scorer, budget, images)
    if not found:
        cheapest = min(piece_seconds(c, view_order[:1], 1, images) for c in costs)
        raise SkpError(
            f"No member fits the inference budget of {budget:g} s on these {images} test images: the cheapest "
            f"(one fold checkpoint, no TTA) takes {cheapest:.3g} s. Raise --budget."
        )
    best = choose(found, scorer.better)
    views = view_order[: best.views]
    chosen = []
    for index in best.members:
        member, piece = members[index], member_pieces[index]
        member.oof = np.mean([piece["oof"][v] for v in views], axis=0)
        member.test = np.mean([np.mean(piece["test"][v][: best.checkpoints], axis=0) for v in views], axis=0)
        chosen.append(member)
    summary = {
        "seconds": budget,
        "images": images,
        # what more time would buy: every member set and view count with all its checkpoints
        "over_budget": [{"seconds": c.seconds, "score": c.score, "expected": c.expected} for c in over],
        "chosen": {"members": [members[i].name for i in best.members], "views": views, "checkpoints": best.checkpoints,
                   "seconds": best.seconds, "score": best.score, "expected": best.expected},
        "candidates": [{"members": [members[i].name for i in c.members], "views": c.views, "checkpoints": c.checkpoints,
                        "seconds": c.seconds, "score": c.score, "expected": c.expected} for c in found],
    }
    return chosen, summary


def weighed(candidate: dict) -> float:
    """A summary candidate's value as the choice weighed it (expected test score, else OOF)."""
    return candidate["score"] if candidate.get("expected") is None else candidate["expected"]


def pareto(summary: dict, direction: str) -> list[dict]:
    """The candidates no cheaper one is valued as well as, cheapest first."""
    sign = 1 if direction == "max" else -1
    front, best = [], -np.inf
    for c in sorted(summary["candidates"], key=lambda c: (c["seconds"], -sign * weighed(c))):
        if sign * weighed(c) > best:
            front.append(c)
            best = sign * weighed(c)
    return front


def run_source(member) -> str:
    """`Run(...)` naming the member's run directory: by config and run id when they lead
    back to it (portable: they resolve under the save directory of the machine that
    runs the recipe), else by its path."""
    from skp.training.runs import run_dir

    directory = next(iter(member.fold_dirs.values())).parent.resolve()
    if run_dir(member.cfg, directory.name).resolve() == directory:
        return f"Run({member.cfg.config_name!r}, run_id={directory.name!r}, name={member.name!r})"
    return f"Run(path={str(directory)!r}, name={member.name!r})"


def within_budget_source(recipe, members: list, chosen: dict, folder: Path) -> str:
    """A recipe, to live in `folder`, that predicts only the pieces the budget chose: the
    chosen members, TTA views and fold checkpoints, with the recipe's blend and every other
    setting. Run on the competition's machine, it writes the same submission without
    weighing anything."""
    views = [view for view in chosen["views"] if view != "none"]
    runs = "".join(f"        {run_source(member)},\n" for member in members)
    # a soup is one model of all the folds: there is no checkpoint count to keep
    checkpoints = None if recipe.soup else chosen["checkpoints"]
    header = (f'"""The inference budget\'s choice for {recipe.name}: {chosen["seconds"]:.3g} s of {recipe.budget:g} on the test set it was\n'
              f"measured on. {', '.join(chosen['members'])}; views {', '.join(chosen['views'])}; {chosen['checkpoints']} fold checkpoint(s) each.\n"
              f'Written by skp-ensemble: `skp-ensemble <this file>` predicts these pieces and nothing else."""\n\n')
    if recipe.file:  # settings that are code (custom TTA views, to_submission) stay in the recipe file
        tta = f"{{name: base.tta[name] for name in {views!r}}}" if isinstance(recipe.tta, dict) else repr(views)
        original = os.path.relpath(Path(recipe.file).resolve(), folder.resolve())
        return (header + "from dataclasses import replace\nfrom pathlib import Path\n\n"
                "from skp.ensemble import Run\nfrom skp.ensemble.recipe import load_recipe\n\n"
                f"base = load_recipe(str(Path(__file__).resolve().parent / {original!r}))\n"
                f"recipe = replace(\n    base,\n    members=[\n{runs}    ],\n    tta={tta},\n    checkpoints={checkpoints!r},\n"
                "    budget=None,\n    output=None,\n)\n")
    settings = "".join(f"    {name}={value!r},\n" for name, value in _command_line_settings(recipe).items())
    return (header + "from skp.ensemble import Recipe, Run\n\n"
            f"recipe = Recipe(\n    members=[\n{runs}    ],\n    tta={views!r},\n    checkpoints={checkpoints!r},\n{settings})\n")


def _command_line_settings(recipe) -> dict:
    """The settings skp-ensemble's flags gave a recipe without a file, those the
    within-budget recipe does not set itself."""
    from dataclasses import fields

    own = {"members", "tta", "checkpoints", "budget", "output", "name", "file"}
    defaults = type(recipe)()
    return {f.name: getattr(recipe, f.name) for f in fields(recipe)
            if f.name not in own and getattr(recipe, f.name) != getattr(defaults, f.name)}


def write_within_budget(recipe, members: list, chosen: dict, folder: Path) -> Path:
    path = folder / WITHIN_BUDGET_FILE
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(within_budget_source(recipe, members, chosen, folder))
    return path
