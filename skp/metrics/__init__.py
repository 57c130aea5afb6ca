"""Metrics: `torchmetrics.Metric` classes in `skp/metrics/<module>.py`, named
"module.Class" in the list `cfg.metrics`.

`Metric(cfg)`; `update(out: dict, batch: dict)`; `compute() -> dict` of named
values (e.g. {"accuracy": tensor}). `cfg.val_metric` names the value that is
monitored (checkpoints, early stopping, tuning) and `cfg.val_track` ("max" or
"min") its direction. torchmetrics handles distributed reduction.
"""


def monitored(cfg) -> str:
    """The logged name of the monitored value: every validation value is logged as val/<name>."""
    return f"val/{cfg.val_metric}"
