"""Fashion-MNIST (Zalando Research: 60,000 training and 10,000 test images, 28x28
grayscale, 10 clothing classes) as a Kaggle-style competition folder.

    train.csv              id, filename, label, fold  (cfg.train_subset images, stratified)
    train_full.csv         id, filename, label, fold  (all 60,000; the same folds)
    test.csv               id, filename               (all 10,000 test images, no labels)
    sample_submission.csv  id, label
    solution.csv           id, label                  (test labels, for scoring only)
    images/<id>.png        28x28 grayscale PNG, 0-255; ids 0-59999 train, 60000-69999 test

The source is the first found of: `cfg.fashion_source` (a folder holding the four idx
files, gzipped or not, or Kaggle's two CSV files, or one of those CSV files' paths),
Debian's folder (`apt-get install dataset-fashion-mnist`), and Kaggle's
`fashion-mnist_train.csv` / `fashion-mnist_test.csv` in the working directory or the
data folder's parent.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from skp.errors import SkpError
from skp.toolbox.folders import DONE_MARKER, stratified_folds, write_folder_once

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CSV_FILES = {"train": "fashion-mnist_train.csv", "test": "fashion-mnist_test.csv"}
CSV_COLUMNS = ["label"] + [f"pixel{i}" for i in range(1, 785)]
NUM_FOLDS = 5
SPLIT_SEED = 0
META_FILE = "fashion.json"


# -- reading the sources -------------------------------------------------------------------
def _open(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError) as err:  # a truncated gzip stream ends in EOFError
        raise SkpError(f"Cannot read {path}: {err}. The file is damaged or truncated; get it again.") from None


def read_idx(path: Path, dims: int) -> np.ndarray:
    """The uint8 array of an idx file (LeCun's MNIST format), checked against its header."""
    data = _open(path)
    expected_magic = 0x0800 + dims
    if len(data) < 4 + 4 * dims or int.from_bytes(data[:4], "big") != expected_magic:
        raise SkpError(
            f"{path} is not an idx file of {dims} dimension(s) of unsigned bytes (its header is "
            f"{data[:4].hex() or 'empty'}, expected {expected_magic:08x}). Point cfg.fashion_source at "
            f"the original Fashion-MNIST files."
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    body = data[4 + 4 * dims:]
    if len(body) != int(np.prod(shape)):
        raise SkpError(
            f"{path} is truncated or damaged: its header promises {shape} = {int(np.prod(shape))} bytes, "
            f"it holds {len(body)}. Get the file again (apt-get install --reinstall dataset-fashion-mnist)."
        )
    return np.frombuffer(body, np.uint8).reshape(shape)


def _idx_path(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    """train/test images (N, 28, 28) and labels (N,) from the four idx files in `folder`."""
    paths = {key: _idx_path(folder, stem) for key, stem in IDX_FILES.items()}
    missing = [IDX_FILES[key] for key, path in paths.items() if path is None]
    if missing:
        raise SkpError(f"{folder} lacks the idx files {missing} (gzipped or not).")
    arrays = {key: read_idx(path, 3 if key.endswith("images") else 1) for key, path in paths.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if len(images) != len(labels) or images.shape[1:] != (28, 28):
            raise SkpError(
                f"The {part} idx files in {folder} do not match: {images.shape} images, {labels.shape} labels; "
                f"Fashion-MNIST has 28x28 images and one label each."
            )
    return arrays


def read_kaggle_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise SkpError(f"Cannot read {path} as Kaggle's Fashion-MNIST CSV: {err}.") from None
    if list(frame.columns) != CSV_COLUMNS:
        wrong = [c for c in frame.columns if c not in CSV_COLUMNS][:5]
        raise SkpError(
            f"{path} does not have Kaggle's Fashion-MNIST columns (label, pixel1 ... pixel784): it has "
            f"{len(frame.columns)} columns{', among them ' + ', '.join(map(str, wrong)) if wrong else ''}. "
            f"Use the files fashion-mnist_train.csv and fashion-mnist_test.csv as Kaggle ships them."
        )
    values = frame.to_numpy()
    if frame.isna().any().any() or values.min() < 0 or values[:, 1:].max() > 255 or values[:, 0].max() > 9:
        raise SkpError(f"{path} holds values outside Fashion-MNIST's range (labels 0-9, pixels 0-255) or empty cells.")
    return values[:, 1:].astype(np.uint8).reshape(-1, 28, 28), values[:, 0].astype(np.uint8)


def read_kaggle_folder(train_csv: Path, test_csv: Path) -> dict[str, np.ndarray]:
    train_images, train_labels = read_kaggle_csv(train_csv)
    test_images, test_labels = read_kaggle_csv(test_csv)
    return {"train_images": train_images, "train_labels": train_labels, "test_images": test_images, "test_labels": test_labels}


def _kaggle_pair(folder: Path) -> tuple[Path, Path] | None:
    pair = folder / CSV_FILES["train"], folder / CSV_FILES["test"]
    return pair if all(p.is_file() for p in pair) else None


def _from_given(source: Path) -> tuple[str, Callable[[], dict]]:
    if source.is_file() and source.name in CSV_FILES.values():
        source = source.parent
    if not source.is_dir():
        raise SkpError(f"cfg.fashion_source {source} is not a folder. Name the folder holding the idx files or Kaggle's two CSV files.")
    if any(_idx_path(source, stem) for stem in IDX_FILES.values()):
        return f"idx files in {source}", lambda: read_idx_folder(source)
    pair = _kaggle_pair(source)
    if pair:
        return f"Kaggle CSV files in {source}", lambda: read_kaggle_folder(*pair)
    raise SkpError(
        f"cfg.fashion_source {source} holds neither the four idx files ({', '.join(IDX_FILES.values())}, "
        f"gzipped or not) nor Kaggle's {CSV_FILES['train']} and {CSV_FILES['test']}."
    )


def find_source(given, data_dir: Path) -> tuple[str, Callable[[], dict]]:
    """(description, reader) of the first source found; SkpError naming the three ways when none is."""
    if given:
        return _from_given(Path(given).expanduser())
    if _idx_path(DEBIAN_FOLDER, IDX_FILES["train_images"]):
        return f"Debian's {DEBIAN_FOLDER}", lambda: read_idx_folder(DEBIAN_FOLDER)
    for folder in (Path.cwd(), Path(data_dir).parent):
        pair = _kaggle_pair(folder)
        if pair:
            return f"Kaggle CSV files in {folder}", lambda pair=pair: read_kaggle_folder(*pair)
    raise SkpError(
        f"No Fashion-MNIST source found to write {data_dir}. Provide it one of three ways: install "
        f"Debian's package (apt-get install dataset-fashion-mnist, which puts the idx files in "
        f"{DEBIAN_FOLDER}); or put Kaggle's {CSV_FILES['train']} and {CSV_FILES['test']} in the working "
        f"directory or in {Path(data_dir).parent}; or name a folder holding either with "
        f"--fashion_source PATH."
    )


# -- writing the folder ---------------------------------------------------------------------
def subset_rows(labels: np.ndarray, folds: np.ndarray, size: int | None) -> np.ndarray:
    """Sorted rows of a subset stratified by label and fold, so every fold keeps its share of every class."""
    from sklearn.model_selection import train_test_split

    if size is None or size >= len(labels):
        return np.arange(len(labels))
    rows, _ = train_test_split(np.arange(len(labels)), train_size=size, stratify=labels * NUM_FOLDS + folds, random_state=SPLIT_SEED)
    return np.sort(rows)


def write_fashion(folder: Path, arrays: dict[str, np.ndarray], train_subset: int | None, source: str) -> None:
    (folder / "images").mkdir()
    train_labels, test_labels = arrays["train_labels"], arrays["test_labels"]
    train = pd.DataFrame({"id": np.arange(len(train_labels)), "label": train_labels, "fold": stratified_folds(train_labels, NUM_FOLDS, SPLIT_SEED)})
    test = pd.DataFrame({"id": len(train) + np.arange(len(test_labels)), "label": test_labels})
    for frame, images in ((train, arrays["train_images"]), (test, arrays["test_images"])):
        frame["filename"] = [f"images/{i:05d}.png" for i in frame.id]
        for image, filename in zip(images, frame.filename):
            cv2.imwrite(str(folder / filename), image)
    columns = ["id", "filename", "label", "fold"]
    train[columns].to_csv(folder / "train_full.csv", index=False)
    subset = train.iloc[subset_rows(train_labels, train.fold.to_numpy(), train_subset)]
    subset[columns].to_csv(folder / "train.csv", index=False)
    test[["id", "filename"]].to_csv(folder / "test.csv", index=False)
    test[["id"]].assign(label=0).to_csv(folder / "sample_submission.csv", index=False)
    test[["id", "label"]].to_csv(folder / "solution.csv", index=False)
    meta = {"source": source, "train_subset": train_subset, "train_rows": len(subset), "train_full_rows": len(train), "test_rows": len(test), "classes": CLASSES}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2))


def prepare_fashion(cfg) -> Path:
    """Write the Fashion-MNIST folder into cfg.data_dir on first use; later calls check
    that it was written for the same cfg.train_subset and do nothing else."""
    folder = Path(cfg.data_dir)
    if (folder / DONE_MARKER).exists():
        meta = folder / META_FILE
        written = json.loads(meta.read_text()).get("train_subset") if meta.is_file() else cfg.train_subset
        if written != cfg.train_subset:
            raise SkpError(
                f"{folder} was prepared with train_subset {written}, this config asks for {cfg.train_subset}. "
                f"Remove the folder to write it again, or give this subset its own with --data_dir PATH."
            )
        return folder
    description, read = find_source(cfg.fashion_source, folder)
    arrays = read()
    print(f"skp: writing Fashion-MNIST from {description} to {folder} (once)", flush=True)
    return write_folder_once(folder, lambda tmp: write_fashion(tmp, arrays, cfg.train_subset, description))
