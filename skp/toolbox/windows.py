"""Intensity windows: stored values (Hounsfield units, MR signal) to 0-255 display values.

A window (centre c, width w) maps c - w/2 to 0 and c + w/2 to 255, linearly, clipped:
the soft-tissue window (40, 400) shows -160..240 HU. Several windows stacked give the
channels a pretrained 3-channel network expects (brain, subdural and bone, say).

`cfg.windows` spells them:
    [(40, 400), (80, 200)]   these windows, one channel each
    "header"                 the file's own window (DICOM window tags or VOI LUT)
    "minmax"                 each file's range (all its frames or slices) stretched to 0-255
"""

from __future__ import annotations

import numpy as np

from skp.errors import SkpError

NAMED = ("header", "minmax")


def check_windows(spec, source: str = "cfg.windows") -> None:
    if isinstance(spec, str) and spec in NAMED:
        return
    pairs = spec if isinstance(spec, (list, tuple)) else None
    if pairs and all(_is_window(p) for p in pairs):
        return
    raise SkpError(
        f"{source} is {spec!r}; give a list of (centre, width) windows such as [(40, 400), (80, 200)] "
        f"(one channel each, width > 0), \"header\" for the window the file names, or \"minmax\" to "
        f"stretch each file's own range."
    )


def _is_window(pair) -> bool:
    return (
        isinstance(pair, (list, tuple))
        and len(pair) == 2
        and all(isinstance(v, (int, float)) for v in pair)
        and pair[1] > 0
    )


def window_count(spec) -> int:
    """Channels one slice yields under `spec`."""
    return 1 if isinstance(spec, str) else len(spec)


def apply_window(values: np.ndarray, centre: float, width: float) -> np.ndarray:
    """float32 0-255: values at or below centre - width/2 are 0, at or above centre + width/2 are 255."""
    lower = centre - width / 2
    return (np.clip((values.astype(np.float32) - lower) / width, 0.0, 1.0) * 255.0).astype(np.float32)


def windowed(values: np.ndarray, spec, header_window=None) -> list[np.ndarray]:
    """One float32 0-255 array per channel of `spec`, for all of a file's frames or slices
    at once (so "minmax" keeps neighbouring slices comparable). `header_window(values)`
    applies the file's own window; only "header" calls it."""
    if spec == "minmax":
        low, high = float(values.min()), float(values.max())
        return [apply_window(values, (low + high) / 2, max(high - low, 1e-6))]
    if spec == "header":
        return [header_window(values)]
    return [apply_window(values, c, w) for c, w in spec]


def to_uint8(channels: list[np.ndarray]) -> np.ndarray:
    """(..., C) uint8 from a list of float 0-255 channels."""
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)
