"""Configs: Python files `<root>/<project>/cfg_*.py` that define `cfg` (roots: see
skp.configs.lookup; skp's own examples live in skp/configs/), or any file by its path.

    from skp.configs import Config
    cfg = Config()
    cfg.image_height = 64

    @cfg.derived
    def val_transforms(cfg):             # re-evaluated after CLI overrides
        return A.Compose([A.Resize(cfg.image_height, cfg.image_width)])

Unset attributes read as None. Derived attributes are functions of the config,
computed on every read, so overriding `image_height` reaches every transform
built from it. `load_config` always returns a private copy: a fold, a trial or a
run can change its config without touching the module's object or each other's.

A config inherits from another by starting from it: `cfg = load_config("digits.cfg_baseline",
[("dropout", 0.2)])`. `cfg.config_sources` lists the file and every file it inherits from.
"""

from __future__ import annotations

from skp.configs.lookup import PACKAGE_ROOT as CONFIGS_DIR
from skp.configs.config import Config
from skp.configs.lookup import config_label, import_config, list_configs, list_projects, locate
from skp.errors import SkpError

__all__ = ["CONFIGS_DIR", "Config", "config_label", "list_configs", "list_projects", "load_config"]


def load_config(name, overrides=()) -> Config:
    """A private copy of config `name` with CLI-style `overrides` applied.

    `name` is 'project.cfg_name' or a path to a config file (skp.configs.lookup says where
    names are looked up). `overrides` is a list of command-line tokens (['--lr', '1e-3',
    '--ema.on=True']) or of (key, value) pairs.
    """
    from skp.configs.overrides import apply_overrides
    from skp.registry import absolute_component_files

    source = locate(name)
    base = getattr(import_config(source), "cfg", None)
    if not isinstance(base, Config):
        raise SkpError(f"Config file {source.file} must define `cfg = Config()` (from skp.configs import Config).")
    cfg = base.copy()
    cfg.project = source.label.partition(".")[0]
    cfg.config_name = source.name
    cfg.config_file = str(source.file)
    # The file itself, then every config it builds on through load_config: what the
    # run fingerprint hashes and what run directories keep a copy of.
    inherited = [f for f in base.config_sources or [] if f != cfg.config_file]
    cfg.config_sources = [cfg.config_file, *inherited]
    apply_overrides(cfg, overrides)
    absolute_component_files(cfg)
    return cfg
