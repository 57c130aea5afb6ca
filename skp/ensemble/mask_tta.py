"""Geometric test-time augmentation for dense predictions: each view and its inverse.

A segmentation model's output is a map aligned with its input, so the prediction for a
flipped image is a flipped mask: it must be flipped back before it is averaged with the
plain view. Views act on the last two axes (height, width) of a tensor or array, so the
same functions serve a batch of images (N, C, H, W) and of predictions.
"""

from __future__ import annotations

import numpy as np

from skp.errors import SkpError

MASK_VIEWS = ("hflip", "vflip", "hvflip", "transpose", "rot90", "rot180", "rot270")
SQUARE_ONLY = ("transpose", "rot90", "rot270")


def _ops(x):
    """flip, swap and rot90 on the last two axes, for a NumPy array or a torch tensor."""
    if isinstance(x, np.ndarray):
        return (lambda a, axes: np.flip(a, axes)), (lambda a: np.swapaxes(a, -2, -1)), (lambda a, k: np.rot90(a, k, (-2, -1)))
    return (lambda a, axes: a.flip(axes)), (lambda a: a.transpose(-2, -1)), (lambda a, k: a.rot90(k, (-2, -1)))


def check_views(names, height: int, width: int) -> None:
    unknown = [n for n in names if n != "none" and n not in MASK_VIEWS]
    if unknown:
        raise SkpError(f"Unknown TTA view(s) {unknown} for segmentation. Views: {', '.join(MASK_VIEWS)}.")
    square = [n for n in names if n in SQUARE_ONLY]
    if square and height != width:
        raise SkpError(
            f"TTA view(s) {square} turn a {height}x{width} input into {width}x{height}; they need square "
            f"inputs. Use hflip, vflip, hvflip or rot180, or resize to a square in val_transforms."
        )


def apply_view(x, name: str):
    """`x` as the model sees it under view `name` (last two axes: height, width)."""
    flip, swap, rot = _ops(x)
    views = {
        "none": lambda a: a,
        "hflip": lambda a: flip(a, (-1,)),
        "vflip": lambda a: flip(a, (-2,)),
        "hvflip": lambda a: flip(a, (-2, -1)),
        "transpose": swap,
        "rot90": lambda a: rot(a, 1),
        "rot180": lambda a: rot(a, 2),
        "rot270": lambda a: rot(a, 3),
    }
    return views[name](x)


def undo_view(y, name: str):
    """A prediction made under view `name`, mapped back onto the original image."""
    inverse = {"rot90": "rot270", "rot270": "rot90"}.get(name, name)  # flips, rot180 and transpose are their own inverse
    return apply_view(y, inverse)
