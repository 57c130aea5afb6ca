"""DICOM pixel data as the values a radiologist reads, with pydicom (pip install 'skp[medical]').

`read_dicom(path)` returns every frame in modality units: stored values through the
rescale slope and intercept (or the Modality LUT), so a CT holds Hounsfield units. The
file's own window (Window Center/Width tags, else a VOI LUT) and whether it is
MONOCHROME1 (low values shown white, as many radiographs) come with it; `display_stack`
windows the frames and inverts MONOCHROME1 so that bright means dense in every file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

import numpy as np

from skp.errors import SkpError, require
from skp.toolbox.windows import apply_window, to_uint8, windowed

PLUGIN_HINT = (
    "pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg (JPEG, JPEG-LS, JPEG 2000), "
    "or pip install python-gdcm; or convert the files once to an uncompressed transfer syntax "
    "(gdcmconv --raw, dcmdjpeg)"
)


@dataclass
class DicomImage:
    frames: np.ndarray  # (F, H, W) float32 modality values, or (F, H, W, 3) uint8 colour
    colour: bool
    monochrome1: bool
    header_window: Callable[[np.ndarray], np.ndarray] | None  # modality values -> 0-255


def _pydicom():
    return require("pydicom", "medical", "Reading DICOM files")


def read_dicom(path: str) -> DicomImage:
    pydicom = _pydicom()
    try:
        ds = pydicom.dcmread(path)
    except FileNotFoundError:
        raise SkpError(f"DICOM file {path} not found. Check the annotations CSV and cfg.data_dir.") from None
    except (pydicom.errors.InvalidDicomError, EOFError, ValueError, OSError) as err:
        raise SkpError(f"Could not read {path} as DICOM ({type(err).__name__}: {err}). Check that the CSV names DICOM files and that they are complete.") from None
    if "PixelData" not in ds:
        raise SkpError(f"{path} is DICOM but holds no pixel data (a report, structured report or series index?); list only image files in the CSV.")
    pixels = _decode(ds, path)
    frames = _as_frames(pixels, int(ds.get("NumberOfFrames", 1) or 1), int(ds.get("SamplesPerPixel", 1)))
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR" or int(ds.get("SamplesPerPixel", 1)) == 3:
        return DicomImage(_colour_uint8(frames, ds, photometric), True, False, None)
    values = pydicom.pixels.apply_modality_lut(frames, ds).astype(np.float32)
    return DicomImage(values, False, photometric == "MONOCHROME1", _header_window(ds, path))


def _decode(ds, path: str) -> np.ndarray:
    try:
        return ds.pixel_array
    except Exception as err:  # pydicom raises RuntimeError, ValueError or a plugin's own type
        syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        name = getattr(syntax, "name", None) or str(syntax or "unknown transfer syntax")
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        detail = " ".join([lines[0], "; ".join(lines[1:])]).strip()  # pydicom lists each plugin's needs on a line
        raise SkpError(
            f"Could not decode the pixel data of {path} ({name}): {detail.rstrip('.')}. To read this "
            f"transfer syntax, {PLUGIN_HINT}."
        ) from None


def _as_frames(pixels: np.ndarray, frames: int, samples: int) -> np.ndarray:
    """(F, H, W) or (F, H, W, 3) whatever the file's frame count."""
    single_ndim = 3 if samples == 3 else 2
    return pixels[None] if frames == 1 and pixels.ndim == single_ndim else pixels


def _colour_uint8(frames: np.ndarray, ds, photometric: str) -> np.ndarray:
    if photometric == "PALETTE COLOR":
        frames = _pydicom().pixels.apply_color_lut(frames, ds)
        top = np.iinfo(frames.dtype).max
    else:
        top = 2 ** int(ds.get("BitsStored", 8)) - 1
    return np.rint(frames.astype(np.float32) * (255.0 / top)).astype(np.uint8)


def _first(value) -> float:
    """A window tag's first value: files may list several windows (pydicom's MultiValue)."""
    return float(value[0]) if isinstance(value, Sequence) and not isinstance(value, str) else float(value)


def _header_window(ds, path: str):
    if "WindowCenter" in ds and "WindowWidth" in ds:
        centre, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
        return lambda values: apply_window(values, centre, width)
    if "VOILUTSequence" in ds:
        return _voi_lut(ds.VOILUTSequence[0])
    return None


def _voi_lut(item):
    """The VOI LUT's table: value v shows as LUTData[v - first], clamped at both ends."""
    entries, first, bits = (int(v) for v in item.LUTDescriptor)
    data = item.LUTData
    table = np.frombuffer(data, dtype="<u2") if isinstance(data, bytes) else np.asarray(data)
    table = table[: entries or 65536].astype(np.float32) * (255.0 / (2**bits - 1))
    return lambda values: table[np.clip(np.rint(values).astype(np.int64) - first, 0, len(table) - 1)]


def display_stack(image: DicomImage, spec, path: str) -> np.ndarray:
    """(F, H, W, C) uint8: each frame under the windows of `spec` (colour files as they are),
    MONOCHROME1 inverted."""
    if image.colour:
        if spec not in (None, "header"):
            raise SkpError(
                f"{path} is a colour image; windows apply to grayscale values. Set cfg.windows = "
                f"\"header\" (colour files are then read as they are) or list only grayscale files."
            )
        return image.frames
    if spec == "header" and image.header_window is None:
        raise SkpError(
            f"{path} names no window (no Window Center/Width tags, no VOI LUT), so cfg.windows = "
            f"\"header\" cannot apply. Give the windows, e.g. cfg.windows = [(40, 400)], or \"minmax\"."
        )
    channels = windowed(image.frames, spec, image.header_window)
    if image.monochrome1:
        channels = [255.0 - c for c in channels]
    return to_uint8(channels)
