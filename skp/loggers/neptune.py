"""A small Lightning logger on the neptune client.

Lightning 2.6 dropped its NeptuneLogger when Neptune's hosted service was sunset;
the client still supports self-hosted servers and offline logging.
cfg.neptune_mode: "async" (server, needs NEPTUNE_API_TOKEN), "offline" (written
under ./.neptune for `neptune sync`), or "debug" (nothing kept).
cfg.neptune_project names the project. The config, model and dataset source
files are attached to the run.
"""

from __future__ import annotations

import inspect
import os

from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from skp.errors import SkpError
from skp.registry import resolve

MODES = ("async", "sync", "offline", "debug", "read-only")


def _import_neptune():
    try:
        import neptune
    except ImportError:
        raise SkpError(
            "cfg.neptune_mode is set but the neptune client is not installed: "
            "pip install 'skp[neptune]' (or set --neptune_mode None)."
        ) from None
    return neptune


def _source_files(cfg) -> list[str]:
    files = [cfg.config_file]
    for kind, name in (("models", cfg.model), ("datasets", cfg.dataset)):
        if name:
            files.append(inspect.getsourcefile(resolve(kind, name)))
    return [os.path.relpath(f) for f in files if f]


class NeptuneLogger(Logger):
    def __init__(self, cfg):
        super().__init__()
        if cfg.neptune_mode not in MODES:
            raise SkpError(f"cfg.neptune_mode must be one of {MODES} or None, got {cfg.neptune_mode!r}.")
        if cfg.neptune_mode in ("async", "sync") and not os.environ.get("NEPTUNE_API_TOKEN"):
            raise SkpError(
                f"cfg.neptune_mode={cfg.neptune_mode!r} sends to a Neptune server and needs "
                f"NEPTUNE_API_TOKEN (and cfg.neptune_project). Use --neptune_mode offline to "
                f"log locally and `neptune sync` later."
            )
        self.cfg = cfg
        self._run = None

    @property
    def name(self):
        return self.cfg.config_name

    @property
    def version(self):
        return f"fold{self.cfg.fold}"

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._run is None:
            neptune = _import_neptune()
            self._run = neptune.init_run(
                project=self.cfg.neptune_project,
                mode=self.cfg.neptune_mode,
                name=f"{self.cfg.config_name} fold{self.cfg.fold}",
                tags=[self.cfg.config_name, f"fold{self.cfg.fold}"],
                source_files=_source_files(self.cfg),
                capture_hardware_metrics=False,
            )
        return self._run

    @rank_zero_only
    def log_hyperparams(self, params=None, *args, **kwargs):
        values = self.cfg.to_dict()
        self.experiment["parameters"] = {k: v if isinstance(v, (int, float, bool, str)) else repr(v) for k, v in values.items()}

    @rank_zero_only
    def log_metrics(self, metrics, step=None):
        for key, value in metrics.items():
            self.experiment[key].append(float(value), step=step)

    @rank_zero_only
    def finalize(self, status):
        if self._run is not None:
            self._run["status"] = status
            self._run.stop()
            self._run = None
