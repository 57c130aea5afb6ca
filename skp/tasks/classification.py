"""Classification and regression: one logit per class or per target.

Mixup (cfg.mixup = Beta alpha, cfg.mixup_prob = chance per batch) mixes images
and targets; multi-class targets are mixed as one-hot vectors.
"""

import numpy as np
import torch
import torch.nn.functional as F

from skp.tasks.base import BaseTask, activate
from skp.tasks.seeding import MIXUP, derive_seed


class Task(BaseTask):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.activation = cfg.activation or self.loss.activation
        self._rng = self._mixup_rng(0)

    def _mixup_rng(self, epoch: int) -> np.random.Generator:
        return np.random.default_rng(derive_seed(self.cfg.seed, self.cfg.fold or 0, MIXUP, epoch))

    def on_train_epoch_start(self):
        super().on_train_epoch_start()
        self._rng = self._mixup_rng(self.current_epoch)

    def prepare_training_batch(self, batch: dict) -> dict:
        alpha = self.cfg.mixup
        if not alpha or self._rng.random() >= (self.cfg.mixup_prob or 1.0):
            return batch
        lam = float(self._rng.beta(alpha, alpha))
        perm = torch.randperm(len(batch["x"]), device=batch["x"].device)
        y = batch["y"].float()
        if (self.cfg.num_classes or 1) > 1 and y.shape[1] == 1:
            y = F.one_hot(y[:, 0].long(), self.cfg.num_classes).float()
        mixed = {**batch, "x": lam * batch["x"] + (1 - lam) * batch["x"][perm], "y": lam * y + (1 - lam) * y[perm]}
        if "soft" in batch:  # a teacher's predictions are mixed like the labels
            mixed["soft"] = lam * batch["soft"] + (1 - lam) * batch["soft"][perm]
        return mixed

    def predict(self, out: dict):
        return activate(out["logits"].float(), self.activation)

    def predictions(self, out: dict, batch: dict) -> dict:
        return {"target": batch["y"], "pred": self.predict(out)}
