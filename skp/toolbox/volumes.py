"""NIfTI (and anything else nibabel reads) volumes in one canonical orientation.

Scanners store voxels in many axis orders (LAS, RAS, LPI, ...); the affine says which.
`read_volume` reorients every volume to RAS+ (a higher index along array axes 0, 1, 2
lies further Right, Anterior, Superior), so a slice index, a flip and a 3D kernel mean
the same anatomy in every file. Intensities come through the
header's scale slope and intercept (CT volumes hold Hounsfield units).
"""

from __future__ import annotations

import numpy as np

from skp.errors import SkpError, require
from skp.toolbox.windows import apply_window, to_uint8, windowed


def _nibabel():
    return require("nibabel", "medical", "Reading NIfTI volumes")


def read_volume(path: str):
    """(float32 RAS+ array of 3 dimensions, the header's display window or None)."""
    nib = _nibabel()
    try:
        image = nib.load(path)
    except FileNotFoundError:
        raise SkpError(f"Volume {path} not found. Check the annotations CSV and cfg.data_dir.") from None
    except Exception as err:  # nibabel raises ImageFileError, HeaderDataError, EOFError, zlib errors...
        raise SkpError(f"Could not read {path} as a volume ({type(err).__name__}: {err}). nibabel reads NIfTI-1/2 (.nii, .nii.gz), Analyze, MGH and MINC; check the file is complete.") from None
    if len(image.shape) != 3:
        raise SkpError(
            f"{path} has shape {tuple(image.shape)}; skp reads 3D volumes. Split a 4D series into "
            f"one file per volume (nibabel.four_to_three) and list each in the CSV."
        )
    canonical = nib.as_closest_canonical(image)
    values = np.asarray(canonical.get_fdata(dtype=np.float32))
    return values, _display_window(canonical.header)


def _display_window(header):
    """NIfTI's cal_min/cal_max display range, when the writer set one."""
    low, high = (float(header.get(k, 0)) for k in ("cal_min", "cal_max"))
    if high <= low:
        return None
    return lambda values: apply_window(values, (low + high) / 2, high - low)


def slice_stack(values: np.ndarray, header_window, spec, axis: int, path: str) -> np.ndarray:
    """(S, H, W, C) uint8: the volume cut along `axis` (0 sagittal, 1 coronal, 2 axial in
    RAS+), each slice under the windows of `spec`."""
    if spec == "header" and header_window is None:
        raise SkpError(
            f"{path} sets no display range (cal_min/cal_max), so cfg.windows = \"header\" cannot "
            f"apply. Give the windows, e.g. cfg.windows = [(40, 400)] for CT in Hounsfield units, or \"minmax\"."
        )
    if axis not in (0, 1, 2):
        raise SkpError(f"cfg.slice_axis is {axis!r}; choose 0 (sagittal), 1 (coronal) or 2 (axial) of the RAS+ volume.")
    slices = np.moveaxis(values, axis, 0)
    return to_uint8(windowed(slices, spec, header_window))
