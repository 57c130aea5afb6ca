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
gain from, and the budget is what limits it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from skp.errors import SkpError

MAX_SUBSET_MEMBERS = 10  # 1,023 member sets; beyond, members are added greedily


@dataclass
class Candidate:
    members: tuple[int, ...]
    views: int
    checkpoints: int
    seconds: float
    score: float


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


def candidates(pieces: list[dict], costs: list[dict], view_order: list[str], scorer, budget: float, images: int):
    """(every member set and view count with the most checkpoints that fit the budget; those
    that do not fit even with one checkpoint, with all their checkpoints: what more time
    would buy). Each set's OOF score is computed once, for both."""
    order = _best_first(pieces, view_order[0], scorer) if len(pieces) > MAX_SUBSET_MEMBERS else None
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
                found.append(Candidate(members, views, fits[-1], seconds[fits[-1]], score))
            if seconds[most] > budget:
                over.append(Candidate(members, views, most, seconds[most], score))
    return found, over


def choose(found: list[Candidate], better) -> Candidate:
    """The best score; ties go to the cheaper candidate."""
    best = found[0]
    for candidate in found[1:]:
        if better(candidate.score, best.score) or (candidate.score == best.score and candidate.seconds < best.seconds):
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
        "over_budget": [{"seconds": c.seconds, "score": c.score} for c in over],
        "chosen": {"members": [members[i].name for i in best.members], "views": views, "checkpoints": best.checkpoints,
                   "seconds": best.seconds, "score": best.score},
        "candidates": [{"members": [members[i].name for i in c.members], "views": c.views, "checkpoints": c.checkpoints,
                        "seconds": c.seconds, "score": c.score} for c in found],
    }
    return chosen, summary


def pareto(summary: dict, direction: str) -> list[dict]:
    """The candidates no cheaper one scores as well as, cheapest first."""
    sign = 1 if direction == "max" else -1
    front, best = [], -np.inf
    for c in sorted(summary["candidates"], key=lambda c: (c["seconds"], -sign * c["score"])):
        if sign * c["score"] > best:
            front.append(c)
            best = sign * c["score"]
    return front
