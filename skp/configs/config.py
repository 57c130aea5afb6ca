"""`Config`: the attribute bag every config file fills in; unset attributes read as None
and derived attributes are recomputed from the config on every read (see skp.configs)."""

from __future__ import annotations

import copy
import json
import os


def _describe(value) -> str:
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
    return repr(value)


def _base_defaults() -> dict:
    """Attributes every config has, so they can be overridden from the CLI."""
    return {
        "seed": 42,
        "fold": 0,
        "fold_column": "fold",  # the seed toolkit's convention
        "num_workers": min(4, os.cpu_count() or 1),
        "save_dir": None,
        "data_dir": None,
        "enable_gradient_checkpointing": False,
        "channels_last": None,  # None: on a GPU, for convolutional models
        "pin_memory": None,  # None: when a GPU is present
        # "best": the epoch with the best val_metric gives best.pt, oof.csv and the fold's
        # value; "last": the final epoch does. Picking the minimum of a noisy validation
        # curve flatters the value and can pick a worse model (docs/benchmarks.md).
        "select_epoch": "best",
        "save_oof_masks": True,  # segmentation: the selected epoch's probability maps (oof_masks.npy)
        "ema": {
            "on": False,
            "decay": 0.999,
            "update_after_step": 0,
            "update_every_n_steps": 1,
            "use_warmup": False,
            "warmup_gamma": 1.0,
            "warmup_power": 2 / 3,
            "switch_ema": False,
        },
        "neptune_mode": None,
        "neptune_project": None,
        # a student's teacher (skp-ensemble --distil writes it): <teacher>/fold<k>.csv holds the
        # blend's predictions for fold k's training rows; see skp.tasks.distillation
        "distil": {"teacher": None, "temperature": 2.0, "weight": 0.5, "pseudo_labels": False},
    }


class Config:
    def __init__(self):
        object.__setattr__(self, "_derived", {})
        for key, value in _base_defaults().items():
            setattr(self, key, value)

    def __getattr__(self, name):
        # Only called when normal lookup fails: derived values, then None.
        if name.startswith("__") or name == "_derived":
            raise AttributeError(name)
        derived = self._derived.get(name)
        return derived(self) if derived is not None else None

    def __setattr__(self, name, value):
        self._derived.pop(name, None)  # an explicit value replaces a derivation
        object.__setattr__(self, name, value)

    def derived(self, function):
        """Decorator: attribute `function.__name__` becomes `function(cfg)`, evaluated on read."""
        self.__dict__.pop(function.__name__, None)
        self._derived[function.__name__] = function
        return function

    def is_derived(self, name: str) -> bool:
        return name in self._derived

    def has(self, name: str) -> bool:
        """Whether the attribute is set or derived (unset ones merely read as None)."""
        return name in self.__dict__ and name != "_derived" or name in self._derived

    def names(self) -> list[str]:
        return [k for k in self.__dict__ if k != "_derived"] + list(self._derived)

    def to_dict(self) -> dict:
        """Every attribute with derived ones evaluated, in definition order."""
        return {name: getattr(self, name) for name in self.names()}

    def copy(self) -> "Config":
        return copy.deepcopy(self)

    def to_json(self) -> str:
        """Text dump kept in every run directory; objects show as their repr."""
        return json.dumps(self.to_dict(), indent=2, default=_describe)

    def __str__(self) -> str:
        items = self.to_dict()
        width = max((len(k) for k in items), default=0)
        lines = []
        for key, value in items.items():
            text = _describe(value) if callable(value) else repr(value)
            text = text.replace("\n", "\n" + " " * (width + 2))
            lines.append(f"{key.ljust(width)}  {text}")
        return "\n".join(lines)

    __repr__ = __str__
