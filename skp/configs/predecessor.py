"""Configs written for the seed toolkit: every name skp spells differently, reported at once.

A seed config otherwise fails one rename at a time, each deep in training. The check
runs before anything trains and names the skp spelling of each.
"""

from __future__ import annotations

from skp.errors import SkpError

METRIC_RENAMES = {"classification.MAE": "regression.MAE", "classification.MSE": "regression.MSE"}
COMPONENT_RENAMES = {
    "classification.net2d_var_embed": "classification.net2d with cfg.metadata_embeddings = {column: (num_classes, dim)} (for the seed's vars / embed_num_classes / embed_dim)",
    **METRIC_RENAMES,
}
VALUE_RENAMES = {"mae_mean": "mae", "mse_mean": "mse"}
ATTRIBUTE_RENAMES = {
    "num_iterations_per_epoch": "cfg.sampler = 'IterationBasedSampler' with cfg.sampler_params = {'num_samples': N * cfg.batch_size}",
    "vars": "cfg.metadata_embeddings = {column: (num_classes, dim)}",
    "embed_num_classes": "cfg.metadata_embeddings = {column: (num_classes, dim)}",
    "embed_dim": "cfg.metadata_embeddings = {column: (num_classes, dim)}",
    "load_pretrained": "cfg.pretrained",
}
SCHEDULER_PARAM_RENAMES = {
    "pct_start": "scheduler_params warmup (a fraction of all steps), with scheduler LinearWarmupCosineAnnealingLR",
    "div_factor": "nothing: LinearWarmupCosineAnnealingLR warms up from ~0",
    "final_div_factor": "scheduler_params eta_min_ratio (the final LR as a fraction of the peak)",
}


def seed_renames(cfg) -> list[str]:
    """'seed name -> skp name' for every seed spelling the config uses."""
    found = []
    for attribute in ("model", "dataset", "task", "loss"):
        value = getattr(cfg, attribute)
        if value in COMPONENT_RENAMES:
            found.append(f"cfg.{attribute} {value!r} -> {COMPONENT_RENAMES[value]}")
    for metric in cfg.metrics or []:
        if metric in COMPONENT_RENAMES:
            found.append(f"cfg.metrics {metric!r} -> {COMPONENT_RENAMES[metric]!r}")
    if cfg.val_metric in VALUE_RENAMES:
        found.append(f"cfg.val_metric {cfg.val_metric!r} -> {VALUE_RENAMES[cfg.val_metric]!r}")
    for attribute, new in ATTRIBUTE_RENAMES.items():
        if cfg.has(attribute):
            found.append(f"cfg.{attribute} -> {new}")
    uses_linear_warmup = cfg.scheduler == "LinearWarmupCosineAnnealingLR"
    for key, new in SCHEDULER_PARAM_RENAMES.items():
        if uses_linear_warmup and key in (cfg.scheduler_params or {}):
            found.append(f"cfg.scheduler_params {key!r} -> {new}")
    return found


def check_seed_names(cfg) -> None:
    renames = seed_renames(cfg)
    if renames:
        raise SkpError(
            f"{cfg.config_name} uses the seed toolkit's names, which skp spells differently: "
            + "; ".join(renames) + f". Rename them all in the config (nothing has trained yet): `skp migrate "
            f"{cfg.config_name}` shows the rewrite, `--write` applies it."
        )


def plain_transforms_warning(cfg, overridden: set[str]) -> str | None:
    """A warning when overrides cannot reach transforms set as plain values (the seed's
    way): `--image_height 64` then trains on images resized to the config's size."""
    sizes = sorted(overridden & {"image_height", "image_width"})
    plain = [name for name in ("train_transforms", "val_transforms") if cfg.has(name) and not cfg.is_derived(name) and getattr(cfg, name) is not None]
    if sizes and plain:
        return (
            f"{', '.join('--' + s for s in sizes)} cannot reach cfg.{' and cfg.'.join(plain)}: they are plain values "
            f"built when the config file ran. Declare them with @cfg.derived (see the README's Configs) so overrides reach them."
        )
    return None
