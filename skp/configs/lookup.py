"""Where a config comes from: a file path, or `project.cfg_name` looked up in config roots.

Config roots, searched in this order (the first match wins):
1. every folder in $SKP_CONFIGS_DIR (several separated by os.pathsep),
2. ./configs in the working directory, when it exists,
3. skp's own example projects (skp/configs/<project>/).
A config named `project.cfg_name` is the file `<root>/<project>/<cfg_name>.py`; user
roots need no __init__.py. A name ending in .py, or holding a path separator, is a file
path (relative to the working directory) wherever it lives.

A config gets one canonical name that every process of a run, trial or ensemble reloads
it by: `project.cfg_name` when that name finds the same file, else its absolute path.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from skp.errors import SkpError, did_you_mean

PACKAGE_ROOT = Path(__file__).resolve().parent
ROOTS_VARIABLE = "SKP_CONFIGS_DIR"


def user_roots() -> list[Path]:
    """$SKP_CONFIGS_DIR's folders, then ./configs, as absolute paths, without repeats."""
    listed = [Path(p).expanduser() for p in os.environ.get(ROOTS_VARIABLE, "").split(os.pathsep) if p]
    roots = []
    for root in [*listed, Path("configs")]:
        root = root.resolve()
        if root.is_dir() and root not in roots and root != PACKAGE_ROOT:
            roots.append(root)
    return roots


def config_roots() -> list[Path]:
    return [*user_roots(), PACKAGE_ROOT]


def _configs_in(root: Path) -> dict[str, Path]:
    """{'project.cfg_name': file} of one root."""
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        if root == PACKAGE_ROOT and not (folder / "__init__.py").exists():
            continue
        for file in sorted(folder.glob("*.py")):
            if not file.name.startswith("_"):
                found[f"{folder.name}.{file.stem}"] = file
    return found


def configs_by_root() -> dict[Path, list[str]]:
    return {root: sorted(_configs_in(root)) for root in config_roots()}


def list_configs(project: str | None = None) -> list[str]:
    """Every config `project.cfg_name` loads, from every root, sorted."""
    names = {name for names in configs_by_root().values() for name in names}
    return sorted(n for n in names if project is None or n.partition(".")[0] == project)


def list_projects() -> list[str]:
    return sorted({name.partition(".")[0] for name in list_configs()})


def is_path(name: str) -> bool:
    return name.endswith(".py") or "/" in name or os.sep in name


def _listing() -> str:
    parts = []
    for root, names in configs_by_root().items():
        where = "skp's examples" if root == PACKAGE_ROOT else str(root)
        parts.append(f"in {where}: {', '.join(names) or '(none)'}")
    return "; ".join(parts)


def _find_dotted(name: str) -> Path | None:
    project, _, cfg_name = name.partition(".")
    for root in config_roots():
        file = root / project / f"{cfg_name}.py"
        if file.is_file() and (root != PACKAGE_ROOT or (file.parent / "__init__.py").exists()):
            return file.resolve()
    return None


@dataclass(frozen=True)
class ConfigSource:
    name: str  # canonical: 'project.cfg_name', or the absolute path of a file outside the roots
    file: Path

    @property
    def label(self) -> str:
        return config_label(self.name)


def config_label(name: str) -> str:
    """'project.cfg_name' for any config name: a file's folder and stem for a path. It
    names run directories and studies, so a config keeps them when its folder moves."""
    if is_path(name):
        path = Path(name)
        return f"{path.resolve().parent.name.replace('.', '_')}.{path.stem}"
    return name


def locate(name) -> ConfigSource:
    """The file a config name or path stands for, with its canonical name."""
    name = os.fspath(name)
    if is_path(name):
        file = Path(name).expanduser()
        if not file.is_file():
            raise SkpError(
                f"No config file {file} (from {Path.cwd()}). Name a config by its path or as "
                f"project.cfg_name; configs {_listing()}."
            )
        file = file.resolve()
        dotted = config_label(str(file))
        return ConfigSource(dotted if _find_dotted(dotted) == file else str(file), file)
    project, _, cfg_name = name.partition(".")
    if not project or not cfg_name or "." in cfg_name:
        raise SkpError(
            f"Config name {name!r} must be 'project.cfg_name' (e.g. digits.cfg_baseline) or a "
            f"path to a .py file. Configs {_listing()}."
        )
    file = _find_dotted(name)
    if file is None:
        known = list_configs()
        raise SkpError(
            f"No config {name!r}.{did_you_mean(name, known)} A name project.cfg_name is the file "
            f"<root>/<project>/<cfg_name>.py in a config root ($SKP_CONFIGS_DIR, ./configs, then "
            f"skp's examples). Configs {_listing()}."
        )
    return ConfigSource(name, file)


def _module_name(file: Path) -> str:
    return "skp_user_config_" + hashlib.sha1(str(file).encode()).hexdigest()[:12]


def import_config(source: ConfigSource):
    """The module of a config file, executed once per process (as Python imports do)."""
    if source.file.is_relative_to(PACKAGE_ROOT):
        return importlib.import_module(f"skp.configs.{config_label(str(source.file))}")
    module_name = _module_name(source.file)
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, source.file)
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as imports are: the config's functions pickle by reference.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SkpError:
        del sys.modules[module_name]
        raise
    except Exception as err:
        del sys.modules[module_name]
        frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename) == source.file]
        line = f", line {frames[-1].lineno}" if frames else ""
        where = f"{err.filename}, line {err.lineno}" if isinstance(err, SyntaxError) else f"{source.file}{line}"
        raise SkpError(f"Config {source.name} failed to load at {where}: {type(err).__name__}: {err}. Fix the config file.") from err
    return module
