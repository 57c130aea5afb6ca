"""One resolver for every dotted name a config uses.

A config names components relative to their kind's package, always inside `skp`:

    cfg.model = "classification.net2d"          -> skp.models.classification.net2d.Net
    cfg.dataset = "simple2d"                    -> skp.datasets.simple2d.Dataset
    cfg.task = "classification"                 -> skp.tasks.classification.Task
    cfg.loss = "classification.L1Loss"          -> skp.losses.classification.L1Loss
    cfg.metrics = ["regression.MAE"]            -> skp.metrics.regression.MAE

Module kinds (models, datasets, tasks) name a module holding a class with the
kind's conventional name; class kinds (losses, metrics) name a class in a module.
Adding a component is adding a file: nothing registers it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from skp.errors import SkpError, did_you_mean

# kind -> conventional class name for module kinds, None for class kinds
KINDS = {
    "models": "Net",
    "datasets": "Dataset",
    "tasks": "Task",
    "losses": None,
    "metrics": None,
}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise SkpError(f"Unknown component kind {kind!r}; the kinds are {sorted(KINDS)}.")


def _iter_modules(kind: str):
    package = importlib.import_module(f"skp.{kind}")
    prefix = package.__name__ + "."
    for info in pkgutil.walk_packages(package.__path__, prefix):
        if not info.ispkg:
            yield info.name[len(prefix):], importlib.import_module(info.name)


def _base_class(kind: str):
    if kind == "losses":
        import torch.nn

        return torch.nn.Module
    import torchmetrics

    return torchmetrics.Metric


def list_components(kind: str) -> list[str]:
    """Every dotted name `resolve(kind, name)` accepts, sorted."""
    _check_kind(kind)
    conventional = KINDS[kind]
    names = []
    for module_name, module in _iter_modules(kind):
        if conventional is not None:
            if inspect.isclass(getattr(module, conventional, None)):
                names.append(module_name)
            continue
        base = _base_class(kind)
        for attr, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, base)
                and obj.__module__ == module.__name__
                and not attr.startswith("_")
                and not inspect.isabstract(obj)
            ):
                names.append(f"{module_name}.{attr}")
    return sorted(names)


def resolve(kind: str, name: str):
    """The class that dotted `name` of component `kind` stands for."""
    _check_kind(kind)
    if not isinstance(name, str) or not name:
        raise SkpError(f"A {kind} name must be a non-empty dotted string, got {name!r}.")
    conventional = KINDS[kind]
    module_name, attr = (name, conventional) if conventional else name.rpartition(".")[::2]
    try:
        module = importlib.import_module(f"skp.{kind}.{module_name}") if module_name else None
    except ModuleNotFoundError as err:
        if not err.name or not err.name.startswith(f"skp.{kind}"):
            raise  # a dependency of the component is missing: show the real cause
        module = None
    found = getattr(module, attr, None) if module is not None else None
    if not inspect.isclass(found):
        available = list_components(kind)
        raise SkpError(
            f"No {kind} component named {name!r}.{did_you_mean(name, available)} "
            f"Available {kind}: {', '.join(available)}. Add one by creating a file "
            f"under skp/{kind}/."
        )
    return found
