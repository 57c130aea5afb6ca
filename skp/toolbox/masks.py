"""Masks as skp stores and submits them.

Probability maps are stored as uint8, round(p * QUANTUM): a quarter of float32's memory,
and resolution enough for thresholds in steps of 0.05.

Run-length encoding, as segmentation competitions' submission.csv wants it. The common
Kaggle convention: pixels are numbered from 1 over the mask flattened in
column-major order (down the first column, then the next: `order="F"`), and a mask is
written as space-separated `start length` pairs of its runs of ones; an empty mask is the
empty string. Some competitions number pixels row by row instead: `order="C"`.
"""

from __future__ import annotations

import numpy as np

QUANTUM = 255  # a probability p is stored as round(p * QUANTUM) in uint8

from skp.errors import SkpError

ORDERS = ("F", "C")


def _check_order(order: str) -> None:
    if order not in ORDERS:
        raise SkpError(f"RLE order {order!r} is not one of {ORDERS}: 'F' numbers pixels column by column (Kaggle's usual), 'C' row by row.")


def rle_encode(mask: np.ndarray, order: str = "F") -> str:
    """`start length` pairs (1-indexed) of the runs of nonzero pixels of a 2-D mask."""
    _check_order(order)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise SkpError(f"rle_encode takes one 2-D mask (height, width), got shape {mask.shape}; encode each class's mask separately.")
    pixels = np.concatenate([[0], (mask.ravel(order=order) != 0).astype(np.int8), [0]])
    edges = np.flatnonzero(pixels[1:] != pixels[:-1]) + 1  # 1-indexed starts and ends of runs, alternating
    edges[1::2] -= edges[::2]
    return " ".join(map(str, edges))


def rle_decode(text: str, shape: tuple[int, int], order: str = "F") -> np.ndarray:
    """The uint8 mask of `shape` that `text` encodes; NaN or "" (as pandas reads an empty cell) is empty."""
    _check_order(order)
    height, width = shape
    flat = np.zeros(height * width, dtype=np.uint8)
    if isinstance(text, float) or not str(text).strip():
        return flat.reshape(shape, order=order)
    try:
        numbers = np.asarray(str(text).split(), dtype=np.int64)
    except ValueError:
        raise SkpError(f"RLE string {str(text)[:60]!r} holds something other than integers.") from None
    if len(numbers) % 2:
        raise SkpError(f"RLE string {str(text)[:60]!r} has an odd count of numbers: it must be start/length pairs.")
    starts, lengths = numbers[::2] - 1, numbers[1::2]
    ends = starts + lengths
    if len(starts) and (starts.min() < 0 or lengths.min() < 1 or ends.max() > flat.size):
        raise SkpError(f"RLE string {str(text)[:60]!r} has runs outside a {height}x{width} mask (starts are 1-indexed, lengths >= 1).")
    for start, end in zip(starts, ends):
        flat[start:end] = 1
    return flat.reshape(shape, order=order)
