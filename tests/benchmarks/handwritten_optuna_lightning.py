"""The script a user writes instead of skp-tune: Optuna TPE + MedianPruner + Lightning's
pruning callback, the same timm model, data, augmentations, optimizer and schedule as
digits.cfg_baseline, and no artefacts beyond what Lightning does by default.

    python tests/benchmarks/handwritten_optuna_lightning.py DATA_DIR --trials 6 --epochs 3 --seed 0
"""

import argparse
import math
from pathlib import Path

import albumentations as A
import cv2
import lightning.pytorch as pl
import optuna
import pandas as pd
import timm
import torch
import torch.nn.functional as F
from optuna_integration import PyTorchLightningPruningCallback


class Digits(torch.utils.data.Dataset):
    def __init__(self, folder, frame, transforms):
        self.paths = [str(Path(folder) / f) for f in frame.filename]
        self.labels = frame.label.to_numpy()
        self.transforms = transforms

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        image = cv2.imread(self.paths[i], cv2.IMREAD_GRAYSCALE)[..., None]
        image = self.transforms(image=image)["image"]
        return torch.from_numpy(image.transpose(2, 0, 1)).float() / 255.0, int(self.labels[i])


class Model(pl.LightningModule):
    def __init__(self, lr, weight_decay, dropout, total_steps):
        super().__init__()
        self.backbone = timm.create_model("resnet10t", pretrained=False, num_classes=0, in_chans=1)
        self.head = torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(self.backbone.num_features, 10))
        self.lr, self.weight_decay, self.total_steps = lr, weight_decay, total_steps

    def forward(self, x):
        return self.head(self.backbone(x))

    def training_step(self, batch, _):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_accuracy", (self(x).argmax(1) == y).float().mean(), on_epoch=True)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        warmup = int(0.1 * self.total_steps)

        def factor(step):
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, self.total_steps - warmup))))

        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    frame = pd.read_csv(Path(args.data_dir) / "train.csv")
    train_tf = A.Compose([A.Resize(32, 32), A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-10, 10), p=0.5)])
    val_tf = A.Compose([A.Resize(32, 32)])
    train = torch.utils.data.DataLoader(Digits(args.data_dir, frame[frame.fold != 0], train_tf), batch_size=64, shuffle=True, drop_last=True)
    val = torch.utils.data.DataLoader(Digits(args.data_dir, frame[frame.fold == 0], val_tf), batch_size=64)

    def objective(trial):
        pl.seed_everything(42, verbose=False)
        model = Model(
            trial.suggest_float("optimizer_params.lr", 1e-3, 1e-2, log=True),
            trial.suggest_float("optimizer_params.weight_decay", 1e-4, 1e-1, log=True),
            0.1,  # the config's dropout; skp's digits space no longer searches it
            total_steps=len(train) * args.epochs,
        )
        trainer = pl.Trainer(
            max_epochs=args.epochs,
            accelerator="auto",
            enable_progress_bar=False,
            enable_checkpointing=False,
            logger=False,
            callbacks=[PyTorchLightningPruningCallback(trial, monitor="val_accuracy")],
        )
        trainer.fit(model, train, val)
        return trainer.callback_metrics["val_accuracy"].item()

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=args.seed, multivariate=True, group=True),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )
    study.optimize(objective, n_trials=args.trials)
    epochs = sum(len(t.intermediate_values) for t in study.trials)
    print(f"best {study.best_value:.4f} after {len(study.trials)} trials, epochs {epochs}")


if __name__ == "__main__":
    main()
