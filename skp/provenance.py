"""What made a run: code version, library versions, machine, seed and config sources.

Recorded in every run directory's run.json (with copies of the config files under
`config_src/`), on every tuning trial and in every ensemble's weights.json, so that a
number can be traced to what produced it and `skp-train --reproduce` can check that
the code is still the same.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import socket
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "lightning", "timm", "albumentations", "optuna")
SOURCES_DIR = "config_src"


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None  # no git on this machine
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(path) -> dict | None:
    """Commit and dirty flag of the repository holding `path`; None outside a repository.

    Dirty means tracked files differ from the commit, or `path` itself is not committed.
    """
    folder = Path(path).resolve().parent
    root = _git(folder, "rev-parse", "--show-toplevel")
    if root is None:
        return None
    commit = _git(folder, "rev-parse", "HEAD")
    changed = _git(folder, "status", "--porcelain", "--untracked-files=no")
    tracked = _git(folder, "ls-files", "--error-unmatch", str(Path(path).resolve())) is not None
    return {"repository": root, "commit": commit, "dirty": bool(changed) or not tracked}


def file_sha1(path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def provenance(sources=(), seed: int | None = None, device: str | None = None) -> dict:
    """The record for a run made from config files `sources` (the config first), on
    `device` (default: this process's torch device)."""
    import skp

    record = {
        "skp": skp.__version__,
        "skp_git": git_state(Path(skp.__file__)),
        "config_git": git_state(sources[0]) if sources else None,
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "host": socket.gethostname(),
        "device": device or device_name(),
        "seed": seed,
        "config_sources": {str(Path(f).resolve()): file_sha1(f) for f in sources},
    }
    if record["config_git"] and record["skp_git"] and record["config_git"]["repository"] == record["skp_git"]["repository"]:
        record["config_git"] = record["skp_git"]
    return record


def source_copy_name(path) -> str:
    """`<project>/<file>` under config_src/: configs are named project.cfg_name."""
    path = Path(path)
    return f"{path.parent.name}/{path.name}"


def copy_config_sources(sources, run_dir: Path) -> None:
    for source in sources:
        target = run_dir / SOURCES_DIR / source_copy_name(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def changed_sources(record: dict) -> list[str]:
    """Config files whose content differs from what `record` saw (or that are gone)."""
    changed = []
    for path, sha1 in (record.get("config_sources") or {}).items():
        if not Path(path).is_file() or file_sha1(path) != sha1:
            changed.append(path)
    return changed
