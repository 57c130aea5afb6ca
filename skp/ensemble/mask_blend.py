"""Blending segmentation members: per-pixel weighted means streamed in chunks, and the
binarising threshold and minimum component size fitted on OOF Dice.

Probability maps are uint8 arrays (N, K, H, W) holding round(p x 255), as folds store
them (`oof_masks.npy`), usually memory-mapped: every function here reads them `chunk`
images at a time, so memory stays bounded however many images there are.

Dice is the per-image mean over images and classes, an image whose prediction and truth
are both empty scoring 1: the usual competition metric, under which a speck predicted
on an empty image costs a whole image's score (what a minimum component size prevents).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from skp.errors import SkpError
from skp.oof.selection import forward_selection
from skp.toolbox.masks import QUANTUM

CHUNK = 64
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 0.96, 0.05))
MIN_SIZES = (0, 4, 16, 64, 256, 1024)


class MapFile:
    """A .npy file read and written a slice (or a list of rows) at a time with positioned
    file reads and writes. Not a memory map: the pages a memory map has touched count as
    the process's resident memory until the kernel reclaims them, so one pass over maps
    of 1 GB raised the blend's peak resident memory by 1 GB (docs/benchmarks.md)."""

    def __init__(self, path, shape=None, dtype=np.uint8):
        """Open `path`; with `shape`, create it (zero-filled) first."""
        self.path = Path(path)
        if shape is not None:
            with open(self.path, "wb") as f:
                np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)})
                self.offset = f.tell()
                f.truncate(self.offset + int(np.prod(shape)) * np.dtype(dtype).itemsize)
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            self.shape, fortran, self.dtype = read_header(f)
            self.offset = f.tell()
        if fortran:
            raise SkpError(f"{self.path} holds a Fortran-ordered array; maps are written C-ordered.")
        self.row_bytes = int(np.prod(self.shape[1:])) * self.dtype.itemsize
        self._fd = os.open(self.path, os.O_RDWR)

    def __len__(self) -> int:
        return self.shape[0]

    def _rows(self, index) -> tuple[int, int]:
        start, stop, step = index.indices(len(self)) if isinstance(index, slice) else (index, index + 1, 1)
        if step != 1:
            raise IndexError("MapFile reads contiguous rows")
        return start, max(start, stop)

    def __getitem__(self, index) -> np.ndarray:
        start, stop = self._rows(index)
        data = os.pread(self._fd, (stop - start) * self.row_bytes, self.offset + start * self.row_bytes)
        rows = np.frombuffer(data, dtype=self.dtype).reshape(stop - start, *self.shape[1:])
        return rows if isinstance(index, slice) else rows[0]

    def __setitem__(self, index, value) -> None:
        """A slice of rows, or a sequence of row numbers (one write each)."""
        value = np.ascontiguousarray(value, dtype=self.dtype)
        if isinstance(index, slice):
            start, stop = self._rows(index)
            os.pwrite(self._fd, value.reshape(stop - start, -1).tobytes(), self.offset + start * self.row_bytes)
            return
        for row, data in zip(np.atleast_1d(index), value.reshape(len(np.atleast_1d(index)), -1)):
            os.pwrite(self._fd, data.tobytes(), self.offset + int(row) * self.row_bytes)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        self.close()


def blend_maps(sources: list, weights, out, chunk: int = CHUNK):
    """out[i] = sum_m weights[m] * sources[m][i] / sum(weights), as uint8 probabilities."""
    weights = np.asarray(weights, dtype=np.float32)
    weights = weights / weights.sum()
    for start in range(0, len(out), chunk):
        stop = min(start + chunk, len(out))
        total = np.zeros((stop - start, *out.shape[1:]), dtype=np.float32)
        for source, weight in zip(sources, weights):
            if weight:
                total += weight * np.asarray(source[start:stop], dtype=np.float32)
        out[start:stop] = np.rint(total).astype(np.uint8)
    return out


def drop_small_components(mask: np.ndarray, min_size: int) -> np.ndarray:
    """A binary (H, W) mask without its connected components of fewer than `min_size` pixels."""
    if min_size <= 0 or not mask.any():
        return mask
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_size
    return keep[labels]


def binarize(block: np.ndarray, thresholds, min_sizes) -> np.ndarray:
    """(n, K, H, W) uint8 probabilities -> boolean masks, with a threshold and a minimum
    component size per class."""
    masks = block > (np.asarray(thresholds, dtype=np.float32) * QUANTUM)[None, :, None, None]
    if np.any(min_sizes):
        for image in masks:
            for c, size in enumerate(min_sizes):
                image[c] = drop_small_components(image[c], size)
    return masks


def image_dice(predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Dice per image and class of boolean (N, K, H, W) masks; 1 where both are empty."""
    intersection = (predicted & true).sum((-2, -1))
    total = predicted.sum((-2, -1)) + true.sum((-2, -1))
    return np.where(total == 0, 1.0, 2 * intersection / np.maximum(total, 1))


def _chunks(probabilities, true, chunk: int):
    for start in range(0, len(probabilities), chunk):
        yield np.asarray(probabilities[start:start + chunk]), np.asarray(true[start:start + chunk], dtype=bool)


def mean_dice(probabilities, true, thresholds=0.5, min_sizes=0, chunk: int = CHUNK) -> float:
    """Mean per-image Dice of (N, K, H, W) uint8 probabilities against boolean masks,
    with a threshold and minimum component size per class (or one for all)."""
    k = probabilities.shape[1]
    thresholds, min_sizes = np.broadcast_to(thresholds, k), np.broadcast_to(min_sizes, k)
    scores = [image_dice(binarize(block, thresholds, min_sizes), truth) for block, truth in _chunks(probabilities, true, chunk)]
    return float(np.concatenate(scores).mean())


def fit_thresholds(probabilities, true, thresholds=THRESHOLDS, min_sizes=MIN_SIZES, chunk: int = CHUNK) -> dict:
    """Per class, the threshold with the best mean Dice, then the minimum component size
    with the best Dice at that threshold (coordinate-wise: two passes over the data)."""
    k, n = probabilities.shape[1], len(probabilities)
    by_threshold = np.zeros((len(thresholds), k))
    for block, truth in _chunks(probabilities, true, chunk):
        for i, threshold in enumerate(thresholds):
            by_threshold[i] += image_dice(binarize(block, [threshold] * k, [0] * k), truth).sum(0)
    chosen = [thresholds[i] for i in by_threshold.argmax(0)]
    by_size = np.zeros((len(min_sizes), k))
    for block, truth in _chunks(probabilities, true, chunk):
        for j, size in enumerate(min_sizes):
            by_size[j] += image_dice(binarize(block, chosen, [size] * k), truth).sum(0)
    half = int(np.argmin(np.abs(np.asarray(thresholds) - 0.5)))
    return {
        "thresholds": [float(t) for t in chosen],
        "min_sizes": [int(min_sizes[j]) for j in by_size.argmax(0)],
        "dice": float(by_size.max(0).mean() / n),
        "dice_at_0.5": float(by_threshold[half].mean() / n),
    }


def greedy_weights(sources: list, true, rounds: int = 10, chunk: int = CHUNK) -> list[int]:
    """Ensemble selection with replacement (Caruana) on mean Dice at threshold 0.5:
    how many times each member was picked. Blends go through a scratch array in RAM of
    one member's size; callers with larger OOF sets pass memory-mapped `sources`."""
    counts = [0] * len(sources)
    scratch = np.empty(sources[0].shape, dtype=np.uint8)

    def score_if_added(m):
        return mean_dice(blend_maps(sources, [c + (i == m) for i, c in enumerate(counts)], scratch, chunk), true, chunk=chunk)

    def add(m):
        counts[m] += 1

    forward_selection(len(sources), score_if_added, add, lambda a, b: a > b, rounds, stop_early=True)
    return counts
