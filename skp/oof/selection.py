"""Greedy forward selection (Caruana et al. 2004, "Ensemble selection from libraries of
models"), written once for every caller: greedy table blends, greedy mask blends and
promotion by ensemble. Each round adds the candidate whose addition scores best; the
caller keeps the running blend (`add`) so that a round costs one score per candidate."""

from __future__ import annotations

from typing import Callable


def forward_selection(candidates: int, score_if_added: Callable[[int], float], add: Callable[[int], None],
                      better: Callable[[float, float], bool], rounds: int, repeats: bool = True,
                      stop_early: bool = False) -> list[tuple[int, float]]:
    """[(candidate picked, score after adding it)] per round. Without `repeats` a candidate
    is picked at most once; with `stop_early` the selection ends at the first round that
    does not beat the best score so far (that round's pick is not added). Ties go to the
    lower index."""
    picks: list[tuple[int, float]] = []
    for _ in range(rounds):
        taken = {i for i, _ in picks}
        options = [i for i in range(candidates) if repeats or i not in taken]
        if not options:
            break
        best = None
        for i in options:
            score = score_if_added(i)
            if best is None or better(score, best[1]):
                best = (i, score)
        if stop_early and picks and not better(best[1], best_score(picks, better)):
            break
        add(best[0])
        picks.append(best)
    return picks


def best_score(picks: list[tuple[int, float]], better) -> float:
    best = picks[0][1]
    for _, score in picks[1:]:
        if better(score, best):
            best = score
    return best


def best_prefix(picks: list[tuple[int, float]], better) -> list[int]:
    """The picks up to the first round with the best score."""
    best = 0
    for r, (_, score) in enumerate(picks):
        if better(score, picks[best][1]):
            best = r
    return [i for i, _ in picks[: best + 1]]
