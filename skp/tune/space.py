"""Search spaces declared in configs, as plain data with small typed helpers.

    from skp.tune.space import Categorical, Float, Int

    cfg.search_space = {
        "optimizer_params.lr": Float(1e-4, 1e-2, log=True),
        "image_height": Int(32, 64, step=16),
        "loss": Categorical(["classification.CrossEntropyLoss", "classification.FocalLoss"]),
        "loss_params.gamma": Float(0.5, 3.0, when={"loss": "classification.FocalLoss"}),
    }

Keys are config attributes, `dict.key` included. `when` makes a parameter
conditional on the values other attributes take in the trial (searched earlier in
the dict, or fixed by the config). For anything else, `cfg.search_space_fn =
function(trial, cfg) -> dict` suggests more parameters define-by-run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from skp.errors import SkpError

_CATEGORICAL_TYPES = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class Float:
    low: float
    high: float
    log: bool = False
    step: float | None = None
    when: dict = field(default_factory=dict)

    def problems(self) -> list[str]:
        return _range_problems(self)

    def suggest(self, trial, name):
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.low <= value <= self.high:
            return False
        return self.step is None or abs((value - self.low) / self.step - round((value - self.low) / self.step)) < 1e-9

    def example(self):
        return float(self.low)


@dataclass(frozen=True)
class Int:
    low: int
    high: int
    log: bool = False
    step: int = 1
    when: dict = field(default_factory=dict)

    def problems(self) -> list[str]:
        problems = _range_problems(self)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high, self.step)):
            problems.append("Int bounds and step must be whole numbers")
        return problems

    def suggest(self, trial, name):
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)

    def accepts(self, value) -> bool:
        whole = isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and value.is_integer()
        return whole and self.low <= value <= self.high and (int(value) - self.low) % self.step == 0

    def example(self):
        return int(self.low)


@dataclass(frozen=True)
class Categorical:
    choices: list
    when: dict = field(default_factory=dict)

    def problems(self) -> list[str]:
        if not self.choices:
            return ["Categorical needs at least one choice"]
        odd = [c for c in self.choices if not isinstance(c, _CATEGORICAL_TYPES)]
        if odd:
            return [
                f"choices {odd} are not None, bool, int, float or str (what Optuna stores); "
                f"use a string and a derived attribute that maps it"
            ]
        return []

    def suggest(self, trial, name):
        return trial.suggest_categorical(name, list(self.choices))

    def accepts(self, value) -> bool:
        return value in self.choices

    def example(self):
        return self.choices[0]


def _range_problems(param) -> list[str]:
    problems = []
    if param.low > param.high:
        problems.append(f"low {param.low} is greater than high {param.high}")
    if param.log and param.low <= 0:
        problems.append(f"a log range must be positive, but low is {param.low}")
    if param.step is not None and param.step <= 0:
        problems.append(f"step must be positive, got {param.step}")
    if param.log and param.step not in (None, 1) and isinstance(param, Float):
        problems.append("Optuna cannot combine log=True with a step")
    return problems


PARAM_TYPES = (Float, Int, Categorical)


def validate_space(cfg) -> dict:
    """cfg.search_space checked before any trial runs; SkpError listing every problem."""
    from skp.configs.overrides import apply_overrides

    space = cfg.search_space
    if space is None and cfg.search_space_fn is None:
        raise SkpError(
            f"{cfg.config_name} has no cfg.search_space; declare one, e.g. "
            f"cfg.search_space = {{'optimizer_params.lr': Float(1e-4, 1e-2, log=True)}} "
            f"(from skp.tune.space import Float, Int, Categorical)."
        )
    space = dict(space or {})
    problems = []
    for key, param in space.items():
        if not isinstance(param, PARAM_TYPES):
            problems.append(f"{key}: {param!r} is not Float(...), Int(...) or Categorical([...])")
            continue
        own = param.problems()
        problems += [f"{key}: {p}" for p in own]
        for other in param.when:
            if not (other in space or cfg.has(other.partition(".")[0])):
                problems.append(f"{key}: its condition names {other!r}, which neither the config nor the search space has")
        try:
            if not own:  # an example value exists only for a well-formed parameter
                apply_overrides(cfg.copy(), [(key, param.example())])
        except SkpError as err:
            problems.append(str(err))
    if problems:
        raise SkpError(f"The search space of {cfg.config_name} is invalid: " + "; ".join(problems) + ".")
    return space


def current_value(cfg, chosen: dict, key: str):
    """The value of `key` (an attribute or a dict key) after the choices in `chosen`."""
    if key in chosen:
        return chosen[key]
    attr, dot, sub = key.partition(".")
    value = getattr(cfg, attr)
    return value.get(sub) if dot and isinstance(value, dict) else value


def active_keys(cfg, space: dict, chosen: dict):
    """Keys of `space` whose `when=` conditions hold, in declaration order; `chosen`
    (updated by the caller as it goes) holds the values picked so far."""
    for key, param in space.items():
        if all(current_value(cfg, chosen, k) == v for k, v in param.when.items()):
            yield key


def suggest(trial, cfg, space: dict, define_by_run: bool = True) -> dict:
    """The trial's parameters {key: value}, conditions applied in declaration order;
    then cfg.search_space_fn's unless `define_by_run` is False."""
    chosen = {}
    for key in active_keys(cfg, space, chosen):
        chosen[key] = space[key].suggest(trial, key)
    if define_by_run and cfg.search_space_fn is not None:
        chosen.update(cfg.search_space_fn(trial, cfg))
    return chosen
