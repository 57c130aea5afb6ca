"""What the DICOM and NIfTI datasets share: a file read as a stack of windowed slices,
kept per process or on disk, and neighbouring slices stacked as channels (2.5D).

A stack is (S, H, W, C) uint8: S frames or slices, C windows. Decoding a DICOM or a
compressed volume and windowing it costs far more than a small model's step, so
`cfg.cache_images` keeps stacks:
    "memory" (or True)  once per process (a tuning worker keeps them across trials)
    "disk"              as .npy files in cfg.cache_dir (default <data_dir>/.skp-cache),
                        read memory-mapped: once per machine, shared by every run and worker
    "off" (or False)    decoded for every item
The disk key holds the file's path, size and modification time and the windows, so an
edited file or another window is decoded again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from skp.errors import SkpError
from skp.files import atomic_write

AXIAL = 2  # cfg.slice_axis when unset: axial slices of the RAS+ volume
# cfg.cache_images -> mode; strings so that --cache_images disk overrides a config's "memory"
CACHE_MODES = {None: None, False: None, "off": None, True: "memory", "memory": "memory", "disk": "disk"}
_in_memory: dict[tuple[str, str], np.ndarray] = {}


class StackCache:
    """`get(path)`: the file's stack, read by `read(path)` at most once per process or machine."""

    def __init__(self, cfg, read: Callable[[str], np.ndarray], signature: dict):
        if cfg.cache_images not in CACHE_MODES:
            raise SkpError(f"cfg.cache_images is {cfg.cache_images!r}; choose \"memory\" (once per process), \"disk\" (.npy files in cfg.cache_dir) or \"off\".")
        self.read, self.mode = read, CACHE_MODES[cfg.cache_images]
        self.signature = json.dumps(signature, sort_keys=True, default=str)
        self.folder = Path(cfg.cache_dir or Path(cfg.data_dir or ".") / ".skp-cache")

    def get(self, path: str) -> np.ndarray:
        if not self.mode:
            return self.read(path)
        if self.mode == "disk":
            return self._from_disk(path)
        key = (self.signature, path)
        if key not in _in_memory:
            _in_memory[key] = self.read(path)
        return _in_memory[key]

    def _from_disk(self, path: str) -> np.ndarray:
        stat = os.stat(path)
        key = hashlib.sha1(f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}|{self.signature}".encode()).hexdigest()
        cached = self.folder / f"{key}.npy"
        if not cached.is_file():
            stack = self.read(path)
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(cached, lambda tmp: np.save(tmp, stack), moment="image cache")
        return np.load(cached, mmap_mode="r")


def with_context(stack: np.ndarray, index: int, context: int, path: str) -> np.ndarray:
    """HWC uint8: slices index-context .. index+context (repeated at the ends of the stack),
    their windows side by side: channel order slice-major, [s-1 w0, s-1 w1, s w0, ...]."""
    count = stack.shape[0]
    if not 0 <= index < count:
        raise SkpError(f"{path} has {count} slice(s) or frame(s); the CSV asks for index {index}. Indices count from 0.")
    picked = np.clip(np.arange(index - context, index + context + 1), 0, count - 1)
    chosen = np.asarray(stack[picked])  # (2k+1, H, W, C)
    return np.ascontiguousarray(chosen.transpose(1, 2, 0, 3).reshape(*chosen.shape[1:3], -1))


def check_channels(cfg, expected: int, what: str) -> None:
    if (cfg.num_input_channels or 3) != expected:
        raise SkpError(
            f"{what} gives {expected} input channel(s) but cfg.num_input_channels is "
            f"{cfg.num_input_channels}. Set cfg.num_input_channels = {expected}, or change the windows or cfg.slice_context."
        )


def volume_stack(path: str, windows, axis: int) -> np.ndarray:
    """(S, H, W, C) uint8: a volume read in RAS+ and cut along `axis` under `windows`."""
    from skp.toolbox.volumes import read_volume, slice_stack

    values, header_window = read_volume(path)
    return slice_stack(values, header_window, windows, axis, path)


def slice_indices(cfg, frame) -> list[int] | None:
    """Each row's frame or slice (cfg.slice_column), or None when the config names no column."""
    return None if not cfg.slice_column else frame[cfg.slice_column].astype(int).tolist()
