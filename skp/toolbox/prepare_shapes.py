"""A generated segmentation task: find the disks among disks and boxes in noise.

    train.csv  id, filename, mask_filename, fold (5 folds)
    test.csv   id, filename
    images/<id>.png, masks/<id>.png (0 background, 255 disk; the test images' masks too)
    sample_submission.csv  id, EncodedPixels (empty): the format a submission follows
    solution.csv  id, EncodedPixels: the test masks, run-length encoded (column-major,
               1-indexed), kept for scoring: nothing trains or fits on them
"""

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from skp.files import atomic_write
from skp.toolbox.masks import rle_encode
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


def _write_submission_files(folder: Path) -> None:
    """sample_submission.csv and solution.csv; also added to folders written before they existed."""
    if (folder / "solution.csv").exists():
        return
    test = pd.read_csv(folder / "test.csv")
    masks = [cv2.imread(str(folder / f"masks/{i:04d}.png"), cv2.IMREAD_GRAYSCALE) for i in test.id]
    for name, column in (("sample_submission.csv", [""] * len(test)), ("solution.csv", [rle_encode(m > 0) for m in masks])):
        frame = pd.DataFrame({"id": test.id, "EncodedPixels": column})
        atomic_write(folder / name, lambda tmp, frame=frame: frame.to_csv(tmp, index=False))  # tuning workers may race here


def prepare_shapes(cfg) -> Path:
    """Write the shapes folder into cfg.data_dir on first use; later calls only add the
    submission files a folder from an older skp lacks."""
    folder = write_folder_once(cfg.data_dir, _write)
    _write_submission_files(folder)
    return folder
