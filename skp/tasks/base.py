"""What every task shares: building components, EMA, metrics, prediction collection."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from timm.utils import ModelEmaV3

from skp.errors import SkpError
from skp.optim import build_optimizer, build_scheduler
from skp.registry import resolve
from skp.tasks.distillation import with_distillation
from skp.tasks.seeding import seed_epoch


class NonFiniteLossError(SkpError):
    pass


# Training steps between host reads of the non-finite-loss flag (and at every epoch end).
NONFINITE_CHECK_EVERY = 50


def activate(logits: torch.Tensor, activation: str | None) -> torch.Tensor:
    if activation == "softmax":
        return logits.softmax(1)
    if activation == "sigmoid":
        return torch.sigmoid(logits)
    return logits


class BaseTask(pl.LightningModule):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = resolve("models", cfg.model)(cfg)
        self.loss = with_distillation(resolve("losses", cfg.loss)(cfg), cfg)
        self.metrics = torch.nn.ModuleList(resolve("metrics", name)(cfg) for name in cfg.metrics or [])
        ema = cfg.ema or {}
        # The EMA copy lives on the task so that validation, best checkpoints and
        # resume state all see it without swapping weights in and out.
        self.ema = (
            ModelEmaV3(
                self.model,
                decay=ema.get("decay", 0.999),
                update_after_step=ema.get("update_after_step", 0),
                use_warmup=ema.get("use_warmup", False),
                warmup_gamma=ema.get("warmup_gamma", 1.0),
                warmup_power=ema.get("warmup_power", 2 / 3),
            )
            if ema.get("on")
            else None
        )
        if self.ema is not None:
            # ModelEmaV3 puts its copy in eval mode; Lightning switches modes itself
            # around validation and warns about modules left in eval mode.
            self.ema.train()
        self._collected: list[dict] = []
        self.val_results: dict[str, float] = {}
        self._first_nonfinite_step: torch.Tensor | None = None
        self._channels_last = False  # decided in on_fit_start, once the model is on its device

    # -- model --------------------------------------------------------------------
    def forward(self, batch: dict) -> dict:
        return self.model(batch)

    def eval_model(self) -> torch.nn.Module:
        """The weights validation and checkpoints use: the EMA copy when EMA is on."""
        return self.ema.module if self.ema is not None else self.model

    def weights(self) -> dict:
        """Weights for best/last files; "validated" names the ones the metric was measured on."""
        state = {"state_dict": self.model.state_dict(), "validated": "state_dict"}
        if self.ema is not None:
            state["ema_state_dict"] = self.ema.module.state_dict()
            state["validated"] = "ema_state_dict"
        return state

    # -- memory layout --------------------------------------------------------------
    def _use_channels_last(self) -> bool:
        """cfg.channels_last, by default on a GPU for models with 2D convolutions: cuDNN's
        convolutions (and bf16 tensor cores) run fastest on NHWC tensors."""
        if self.cfg.channels_last is not None:
            return bool(self.cfg.channels_last)
        return self.device.type == "cuda" and any(isinstance(m, torch.nn.Conv2d) for m in self.model.modules())

    def on_fit_start(self):
        self._channels_last = self._use_channels_last()
        if self._channels_last:
            self.model.to(memory_format=torch.channels_last)
            if self.ema is not None:
                self.ema.module.to(memory_format=torch.channels_last)

    def on_after_batch_transfer(self, batch, dataloader_idx):
        x = batch.get("x") if isinstance(batch, dict) else None
        if self._channels_last and torch.is_tensor(x) and x.ndim == 4:
            batch["x"] = x.contiguous(memory_format=torch.channels_last)
        return batch

    # -- training -----------------------------------------------------------------
    def on_train_epoch_start(self):
        # Per epoch, not once per run: a run resumed at epoch k draws what the
        # uninterrupted run drew from epoch k on. Subclasses call super() first.
        seed_epoch(self.cfg.seed, self.cfg.fold or 0, self.current_epoch)

    def prepare_training_batch(self, batch: dict) -> dict:
        return batch

    def training_step(self, batch, batch_idx):
        batch = self.prepare_training_batch(batch)
        losses = self.loss(self.model(batch), batch)
        self._track_nonfinite(losses["loss"])
        if (batch_idx + 1) % NONFINITE_CHECK_EVERY == 0:
            self._raise_if_nonfinite()
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, prog_bar=True, batch_size=len(batch["x"]))
        return losses["loss"]

    def _track_nonfinite(self, loss: torch.Tensor) -> None:
        """Remember the first step whose loss was NaN or infinite, on the loss's device:
        reading it on the host every step would stall a GPU pipeline on every step."""
        if self._first_nonfinite_step is None or self._first_nonfinite_step.device != loss.device:
            self._first_nonfinite_step = torch.full((), -1, dtype=torch.long, device=loss.device)
        new = ~torch.isfinite(loss.detach()) & (self._first_nonfinite_step < 0)
        self._first_nonfinite_step = torch.where(new, self.global_step, self._first_nonfinite_step)

    def _raise_if_nonfinite(self) -> None:
        step = -1 if self._first_nonfinite_step is None else int(self._first_nonfinite_step)
        if step >= 0:
            raise NonFiniteLossError(
                f"Training loss became NaN or infinite at step {step} (epoch {self.current_epoch} or "
                f"before). Lower optimizer_params.lr, enable gradient clipping (--gradient_clip_val 1.0) "
                f"or check the data for NaN values."
            )

    def on_validation_epoch_start(self):
        self._raise_if_nonfinite()  # before NaN weights are validated, checkpointed or reported

    def on_train_epoch_end(self):
        self._raise_if_nonfinite()  # at the latest here: a NaN run fails within its epoch

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.ema is None:
            return
        every = (self.cfg.ema or {}).get("update_every_n_steps", 1) or 1
        if self.global_step % every == 0:
            self.ema.update(self.model, step=self.global_step)

    def on_train_end(self):
        if self.ema is not None and (self.cfg.ema or {}).get("switch_ema"):
            self.model.load_state_dict(self.ema.module.state_dict())

    # -- validation and inference -------------------------------------------------
    def predict(self, out: dict) -> torch.Tensor:
        """Per-sample predictions (B, K) as written to OOF files and blended by skp-ensemble."""
        raise SkpError(
            f"Task {self.cfg.task!r} gives no per-sample predictions to ensemble; "
            f"skp-ensemble blends classification and regression runs."
        )

    def predictions(self, out: dict, batch: dict) -> dict:
        """Per-sample numbers kept for the OOF file; each value shaped (B, ...)."""
        raise NotImplementedError

    def dense_predictions(self, out: dict, batch: dict) -> torch.Tensor | None:
        """Per-pixel predictions too large for the OOF table (B, K, H, W), or None."""
        return None

    def validation_step(self, batch, batch_idx):
        out = self.eval_model()(batch)
        losses = self.loss(out, batch)
        self.log_dict({f"val/{k}": v for k, v in losses.items()}, batch_size=len(batch["x"]), sync_dist=True)
        for metric in self.metrics:
            metric.update(out, batch)
        kept = {"index": batch["index"], **self.predictions(out, batch)}
        self._collected.append({k: v.detach().float().cpu() if k != "index" else v.cpu() for k, v in kept.items()})
        dense = self.dense_predictions(out, batch)
        # handed to RunArtifacts (on_validation_batch_end), which streams them to disk
        return None if dense is None else {"dense": dense, "index": batch["index"]}

    def on_validation_epoch_end(self):
        results = {}
        for metric in self.metrics:
            results.update({k: float(v) for k, v in metric.compute().items()})
            metric.reset()
        self.val_results = results
        self.log_dict({f"val/{k}": v for k, v in results.items()}, prog_bar=True, sync_dist=False)
        self._gathered = self._gather(self._collected)
        self._collected = []

    def _gather(self, collected: list[dict]) -> dict[str, np.ndarray]:
        if not collected:
            return {}
        local = {k: torch.cat([c[k] for c in collected]) for k in collected[0]}
        if self.trainer is not None and self.trainer.world_size > 1:
            local = {k: self.all_gather(v.to(self.device)).flatten(0, 1).cpu() for k, v in local.items()}
        index = local["index"].numpy()
        _, first = np.unique(index, return_index=True)  # distributed samplers pad with repeats
        return {k: v.numpy()[first] for k, v in local.items()}

    def oof_frame(self) -> pd.DataFrame:
        """The last validation epoch's predictions, one row per sample, in dataset order."""
        gathered = getattr(self, "_gathered", {})
        dataset = self.trainer.val_dataloaders.dataset
        index = gathered.get("index", np.zeros(0, dtype=int))
        frame = pd.DataFrame({self.cfg.id_column or "id": np.asarray(dataset.ids, dtype=object)[index]})
        frame["fold"] = self.cfg.fold
        for name, values in gathered.items():
            if name == "index":
                continue
            values = values.reshape(len(values), -1)
            if values.shape[1] == 1:
                frame[name] = values[:, 0]
            else:
                for j in range(values.shape[1]):
                    frame[f"{name}_{j}"] = values[:, j]
        return frame

    # -- optimization -------------------------------------------------------------
    def configure_optimizers(self):
        optimizer = build_optimizer(self.cfg, self.model)
        total_steps = self.trainer.estimated_stepping_batches
        if not math.isfinite(total_steps):
            raise SkpError("Cannot size the LR schedule: set cfg.num_epochs to a finite number.")
        scheduler = build_scheduler(self.cfg, optimizer, int(total_steps), self.trainer.max_epochs)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
