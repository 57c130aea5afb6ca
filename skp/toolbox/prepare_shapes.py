"""A generated segmentation task: find the disks among disks and boxes in noise.

    train.csv  id, filename, mask_filename, fold (5 folds)
    test.csv   id, filename
    images/<id>.png, masks/<id>.png (0 background, 255 disk)
"""

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from skp.toolbox.folders import write_folder_once

NUM_TRAIN, NUM_TEST, SIZE, NUM_FOLDS = 160, 40, 64, 5


def _draw(rng) -> tuple[np.ndarray, np.ndarray]:
    image = rng.normal(60, 20, (SIZE, SIZE)).clip(0, 255)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    for _ in range(rng.integers(1, 4)):
        center = tuple(int(v) for v in rng.integers(8, SIZE - 8, 2))
        radius = int(rng.integers(4, 12))
        if rng.random() < 0.5:
            cv2.circle(image, center, radius, float(rng.integers(150, 255)), -1)
            cv2.circle(mask, center, radius, 255, -1)
        else:
            corner = (center[0] + radius, center[1] + radius)
            cv2.rectangle(image, center, corner, float(rng.integers(150, 255)), -1)
            cv2.rectangle(mask, center, corner, 0, -1)  # a box hides disks beneath it
    return image.astype(np.uint8), mask


def _write(folder: Path) -> None:
    rng = np.random.default_rng(0)
    (folder / "images").mkdir()
    (folder / "masks").mkdir()
    rows = []
    for i in range(NUM_TRAIN + NUM_TEST):
        image, mask = _draw(rng)
        cv2.imwrite(str(folder / f"images/{i:04d}.png"), image)
        cv2.imwrite(str(folder / f"masks/{i:04d}.png"), mask)
        rows.append({"id": i, "filename": f"images/{i:04d}.png", "mask_filename": f"masks/{i:04d}.png"})
    frame = pd.DataFrame(rows)
    train = frame.iloc[:NUM_TRAIN].assign(fold=np.arange(NUM_TRAIN) % NUM_FOLDS)
    train.to_csv(folder / "train.csv", index=False)
    frame.iloc[NUM_TRAIN:][["id", "filename"]].to_csv(folder / "test.csv", index=False)


def prepare_shapes(cfg) -> Path:
    """Write the shapes folder into cfg.data_dir on first use; later calls do nothing."""
    return write_folder_once(cfg.data_dir, _write)
