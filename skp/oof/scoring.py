"""Scoring predictions as the members were validated: the skp metric class (or its NumPy
twin) that reports the value, on predictions turned back into logits."""

from __future__ import annotations

import numpy as np

from skp.errors import SkpError
from skp.oof.fast_metrics import EPS, TWINS


def problem_of(cfg, width: int) -> str:
    from skp.registry import resolve

    activation = cfg.activation or getattr(resolve("losses", cfg.loss), "activation", None)
    if activation == "softmax":
        return "multiclass"
    if activation == "sigmoid":
        return "binary" if width == 1 else "multilabel"
    return "regression"


def to_logits(pred: np.ndarray, problem: str):
    """Inverse of the members' activation, so the metric classes (which take logits) score predictions."""
    import torch
    from scipy.special import logit

    if problem == "multiclass":
        pred = np.log(np.clip(pred, EPS, None))
    elif problem in ("binary", "multilabel"):
        pred = logit(np.clip(pred, EPS, 1 - EPS))
    return torch.from_numpy(np.asarray(pred, np.float32))


class Scorer:
    """score(pred, rows): the value `name` that the skp metric class `metric` (dotted name)
    reports, better in `direction`. Its NumPy twin scores when it has one (fast, no
    torch); other metrics, a user's own included, run as the class itself on `cfg` (as
    every metric does with `twin=False`)."""

    def __init__(self, name: str, direction: str, problem: str, targets, metric: str, cfg=None, twin: bool = True):
        self.name, self.direction, self.problem, self.metric = name, direction, problem, metric
        self.targets = np.asarray(targets, np.float64)
        self.twin = TWINS.get((metric, name)) if twin else None
        if self.twin is None:
            if cfg is None:
                raise LookupError(f"{metric} has no NumPy twin; scoring it needs the members' config")
            from skp.registry import resolve

            self.instance = resolve("metrics", metric)(cfg)

    def on(self, rows: np.ndarray | None):
        """score(pred) for predictions of OOF rows `rows` (all when None), targets sliced once."""
        targets = self.targets if rows is None else self.targets[rows]
        if self.twin is not None:
            return lambda pred: self.twin(pred, targets, self.problem)
        return lambda pred: float(_compute(self.instance, pred, targets, self.problem)[self.name])

    def __call__(self, pred: np.ndarray, rows: np.ndarray | None = None) -> float:
        return self.on(rows)(pred)

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "max" else a < b


def _compute(metric, pred, targets, problem) -> dict:
    import torch

    metric.reset()
    metric.update({"logits": to_logits(pred, problem)}, {"y": torch.from_numpy(np.asarray(targets, np.float32))})
    return metric.compute()


def make_scorer(cfg, problem: str, name: str | None, direction: str | None, sample_pred, targets) -> Scorer:
    """The Scorer of metric value `name` (default: cfg.val_metric) for the members of
    `cfg`: the first of cfg.metrics, then of skp's metrics, that reports it."""
    from skp.registry import list_components, resolve

    name = name or cfg.val_metric
    if direction is None:
        if name != cfg.val_metric:
            raise SkpError(
                f"Say whether metric {name!r} is better higher or lower: direction='max' "
                f"or 'min' in the recipe (--direction)."
            )
        direction = cfg.val_track
    candidates = list(cfg.metrics or [])
    candidates += [c for c in list_components("metrics") if c not in candidates]
    for dotted in candidates:
        try:
            values = _compute(resolve("metrics", dotted)(cfg), sample_pred, targets, problem)
        except (RuntimeError, ValueError, KeyError, IndexError):
            continue  # a metric of another problem type
        if name in values:
            return Scorer(name, direction, problem, targets, dotted, cfg)
    raise SkpError(
        f"No skp metric gives a value named {name!r} for these predictions. Name one of "
        f"the values the members' metrics report (e.g. their val_metric {cfg.val_metric!r})."
    )
