"""scikit-learn's real 8x8 handwritten digits as a Kaggle-style competition folder.

    train.csv              id, filename, label, fold (5 stratified folds)
    test.csv               id, filename                 (no labels)
    sample_submission.csv  id, label
    solution.csv           id, label                    (test labels, for scoring only)
    images/<id>.png        8x8 grayscale PNG, 0-255
"""

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from skp.toolbox.folders import stratified_folds, write_folder_once

NUM_FOLDS = 5
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def _write(folder: Path) -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    (folder / "images").mkdir()
    frame = pd.DataFrame({"id": np.arange(len(images)), "label": digits.target})
    frame["filename"] = [f"images/{i:05d}.png" for i in frame.id]
    for image, filename in zip(images, frame.filename):
        cv2.imwrite(str(folder / filename), image)

    train, test = train_test_split(
        frame, test_size=TEST_FRACTION, stratify=frame.label, random_state=SPLIT_SEED
    )
    train, test = train.sort_values("id").copy(), test.sort_values("id")
    train["fold"] = stratified_folds(train.label.to_numpy(), NUM_FOLDS, SPLIT_SEED)
    train[["id", "filename", "label", "fold"]].to_csv(folder / "train.csv", index=False)
    test[["id", "filename"]].to_csv(folder / "test.csv", index=False)
    test[["id"]].assign(label=0).to_csv(folder / "sample_submission.csv", index=False)
    test[["id", "label"]].to_csv(folder / "solution.csv", index=False)


def prepare_digits(cfg) -> Path:
    """Write the digits folder into cfg.data_dir on first use; later calls do nothing."""
    return write_folder_once(cfg.data_dir, _write)
