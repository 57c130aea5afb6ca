"""One resolver for every component name a config uses.

A config names skp's components relative to their kind's package:

    cfg.model = "classification.net2d"          -> skp.models.classification.net2d.Net
    cfg.dataset = "simple2d"                    -> skp.datasets.simple2d.Dataset
    cfg.task = "classification"                 -> skp.tasks.classification.Task
    cfg.loss = "classification.L1Loss"          -> skp.losses.classification.L1Loss
    cfg.metrics = ["regression.MAE"]            -> skp.metrics.regression.MAE

Module kinds (models, datasets, tasks) name a module holding a class with the
kind's conventional name; class kinds (losses, metrics) name a class in a module.
Adding a component is adding a file: nothing registers it.

The user's own components live outside skp, named by full import path or by file:

    cfg.model = "mycomp.models.effnet3d"        -> mycomp.models.effnet3d.Net
    cfg.model = "models/effnet3d.py"            -> its class Net
    cfg.loss = "mycomp.losses.FocalLoss"        -> mycomp.losses.FocalLoss
    cfg.loss = "losses.py:FocalLoss"            -> class FocalLoss of losses.py

skp's names win over an import path that spells the same; a relative file path is
relative to the working directory, else to the config file's folder. The contracts are
the same for both: each kind's package docstring states its own.

Names chosen from a fixed table (data samplers, optimizers, Optuna samplers, pruners,
blend methods) go through `choose`, whose error lists the table the same way.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys
from pathlib import Path

from skp.errors import SkpError, did_you_mean

# The config attributes that name components.
COMPONENT_ATTRIBUTES = ("model", "dataset", "task", "loss", "metrics")

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


def is_file_reference(name: str) -> bool:
    """'path/to/file.py' or 'path/to/file.py:ClassName'."""
    return name.partition(":")[0].endswith(".py")


def absolute_component_files(cfg) -> None:
    """Make the config's relative component file paths absolute: relative to the working
    directory when the file is there, else to the config file's folder, so a run, a trial
    worker and an ensemble find the file from any directory."""
    folders = [Path.cwd()] + ([Path(cfg.config_file).parent] if cfg.config_file else [])

    def absolute(name):
        if not isinstance(name, str) or not is_file_reference(name):
            return name
        file, colon, attr = name.partition(":")
        if Path(file).is_absolute():
            return name
        for folder in folders:
            if (folder / file).is_file():
                return f"{(folder / file).resolve()}{colon}{attr}"
        return name

    for attribute in COMPONENT_ATTRIBUTES:
        value = cfg.__dict__.get(attribute)  # a derived component name stays derived
        if isinstance(value, str):
            setattr(cfg, attribute, absolute(value))
        elif isinstance(value, (list, tuple)):
            setattr(cfg, attribute, [absolute(v) for v in value])


def _skp_component(kind: str, name: str):
    conventional = KINDS[kind]
    module_name, attr = (name, conventional) if conventional else name.rpartition(".")[::2]
    if not module_name:
        return None
    try:
        module = importlib.import_module(f"skp.{kind}.{module_name}")
    except ModuleNotFoundError as err:
        if not err.name or not err.name.startswith(f"skp.{kind}"):
            raise  # a dependency of the component is missing: show the real cause
        return None
    found = getattr(module, attr, None)
    return found if inspect.isclass(found) else None


def _import_user_module(kind: str, name: str, module_name: str):
    """The user's module, None when it does not exist; its own failures become one paragraph."""
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # as `python -m` would: the project's own packages import
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and (module_name == err.name or module_name.startswith(err.name + ".")):
            return None
        raise SkpError(f"The {kind} component {name!r} imports {err.name!r}, which is not installed: pip install it.") from None
    except Exception as err:
        raise SkpError(f"The {kind} component {name!r} failed to import: {type(err).__name__}: {err}.") from err


def _user_component(kind: str, name: str):
    """A class from the user's own module, by full import path: 'pkg.models.mynet' (its
    conventional class) or 'pkg.models.mynet.MyNet' / 'pkg.losses.MyLoss'."""
    conventional = KINDS[kind]
    candidates = [(name, conventional)] if conventional else []
    head, _, tail = name.rpartition(".")
    if head:
        candidates.append((head, tail))
    for module_name, attr in candidates:
        module = _import_user_module(kind, name, module_name)
        found = getattr(module, attr, None) if module is not None else None
        if inspect.isclass(found):
            return found
    return None


def _file_component(kind: str, name: str):
    file_text, _, attr = name.partition(":")
    file = Path(file_text).expanduser().resolve()
    attr = attr or KINDS[kind]
    if not attr:
        raise SkpError(f"The {kind} component {name!r} must name its class after the file: {file_text}:ClassName.")
    if not file.is_file():
        raise SkpError(f"The {kind} component file {file} does not exist (from {Path.cwd()}). Give a path relative to the working directory or to the config file, or an absolute one.")
    module_name = "skp_user_component_" + hashlib.sha1(str(file).encode()).hexdigest()[:12]
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # before it runs, as imports do: its classes pickle
        try:
            spec.loader.exec_module(module)
        except Exception as err:
            del sys.modules[module_name]
            raise SkpError(f"The {kind} component file {file} failed to load: {type(err).__name__}: {err}.") from err
    found = getattr(module, attr, None)
    if not inspect.isclass(found):
        classes = sorted(k for k, v in vars(module).items() if inspect.isclass(v) and v.__module__ == module_name)
        raise SkpError(f"{file} has no class {attr} for the {kind} component {name!r}; its classes: {', '.join(classes) or '(none)'}.")
    return found


def resolve(kind: str, name: str):
    """The class that `name` of component `kind` stands for: skp's dotted name, the full
    import path of the user's module, or a file path."""
    _check_kind(kind)
    if not isinstance(name, str) or not name:
        raise SkpError(f"A {kind} name must be a non-empty dotted string or file path, got {name!r}.")
    if is_file_reference(name):
        return _file_component(kind, name)
    found = _skp_component(kind, name) or _user_component(kind, name)
    if found is None:
        available = list_components(kind)
        conventional = KINDS[kind]
        own = (f"a module path (mypkg.{kind}.mine, holding class {conventional}) or a file (path/to/mine.py)"
               if conventional else f"a class path (mypkg.{kind}.MyClass) or a file and class (path/to/mine.py:MyClass)")
        raise SkpError(
            f"No {kind} component named {name!r}.{did_you_mean(name, available)} "
            f"skp's {kind}: {', '.join(available)}. A component of your own: {own}."
        )
    return found


def choose(table: dict, name: str, attribute: str):
    """table[name] for a name chosen in the config as `attribute`, or an error listing the choices."""
    if name not in table:
        none = "" if attribute.startswith("--") else " or None"  # a flag cannot be None
        raise SkpError(
            f"Unknown {attribute} {name!r}.{did_you_mean(str(name), table)} "
            f"Choose one of {', '.join(table)}{none}."
        )
    return table[name]


def call_with_params(function, args: tuple, params: dict, attribute: str):
    """function(*args, **params), turning a keyword mismatch into an error naming `attribute`."""
    try:
        return function(*args, **params)
    except TypeError as err:
        raise SkpError(f"{attribute} {params} do not fit: {err}. Fix the keys in the config.") from None
