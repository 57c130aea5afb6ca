"""A smoke-test project from the real DICOM and NIfTI files pydicom and nibabel ship.

Three small tasks, each Kaggle-shaped (train CSV with folds, test CSV, sample
submission, solution), in one folder (pip install 'skp[medical]'):

    dicom/<id>.dcm         32 CT, MR and CR images (the CRs MONOCHROME1) from pydicom
    dicom_*.csv            id, filename, label (0 CT, 1 MR, 2 CR), fold (3 folds)
    volumes/<name>.nii.gz  3D volumes from nibabel's test data, 4D series split per time
                           point; <name>_flipped stores the voxels upside down (the
                           affine kept), so only orientation-aware reading sees anatomy
    slices_*.csv           id, filename, slice, label (1: the slice lies in the upper
                           half of its volume), fold (by volume)
    volumes_*.csv          id, filename, label (1: stored upside down), fold (by volume)

They are far too small to measure anything: they prove the readers, windows,
orientation and the 3D model run end to end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from skp.errors import require
from skp.toolbox.folders import write_folder_once

MODALITIES = {"CT": 0, "MR": 1, "CR": 2}
DICOM_FILES = {
    "CT": [f"dicomdirtests/77654033/CT2/{n}" for n in (17106, 17136, 17166, 17196)]
    + [f"dicomdirtests/98892001/CT2N/{n}" for n in (6293, 6924)]
    + [f"dicomdirtests/98892001/CT5N/{n}" for n in (2062, 2392, 2693, 3023, 3353)],
    "MR": [f"dicomdirtests/98892003/MR1/{n}" for n in (15820, 4919, 5641)]
    + [f"dicomdirtests/98892003/MR2/{n}" for n in (15970, 4950, 4981, 5011, 6273, 6605, 6935)]
    + [f"dicomdirtests/98892003/MR700/{n}" for n in (4467, 4528, 4558, 4588, 4618, 4648, 4678)]
    + ["MR_small.dcm"],
    "CR": [f"dicomdirtests/77654033/{s}" for s in ("CR1/6154", "CR2/6247", "CR3/6278")],
}
DICOM_FOLDS = 3
# source file -> volumes taken from it (time points of a 4D series)
VOLUME_SOURCES = {
    "anatomical.nii": [None],
    "reoriented_anat_moved.nii": [None],
    "example4d.nii.gz": [0, 1],
    "example_nifti2.nii.gz": [0, 1],
    "functional.nii": list(range(20)),
}
TEST_VOLUMES = {"example4d_t1", "example_nifti2_t1", *(f"functional_t{t}" for t in range(15, 20))}
MIN_SLICES = 12  # thinner volumes (functional: 3 slices) take part in the 3D task only


def _split(frame: pd.DataFrame, folder: Path, prefix: str, test: pd.Series) -> None:
    train, held_out = frame[~test], frame[test]
    train.to_csv(folder / f"{prefix}_train.csv", index=False)
    inputs = [c for c in ("id", "filename", "slice") if c in frame.columns]
    held_out[inputs].to_csv(folder / f"{prefix}_test.csv", index=False)
    held_out[["id"]].assign(label=0).to_csv(folder / f"{prefix}_sample_submission.csv", index=False)
    held_out[["id", "label"]].to_csv(folder / f"{prefix}_solution.csv", index=False)


def _write_dicom(folder: Path) -> None:
    import shutil

    source = Path(require("pydicom", "medical", "The medical example project").__file__).parent / "data" / "test_files"
    (folder / "dicom").mkdir()
    rows = []
    for modality, files in DICOM_FILES.items():
        for rank, name in enumerate(files):
            row_id = len(rows)
            shutil.copyfile(source / name, folder / f"dicom/{row_id:03d}.dcm")
            # every fourth file of a modality is held out; the rest spread over the folds
            rows.append({"id": row_id, "filename": f"dicom/{row_id:03d}.dcm", "label": MODALITIES[modality], "fold": rank % DICOM_FOLDS, "test": rank % 4 == 3})
    frame = pd.DataFrame(rows)
    _split(frame.drop(columns="test"), folder, "dicom", frame.test)


def _volumes(nib):
    """(name, 3D image) for every volume of VOLUME_SOURCES."""
    data = Path(nib.__file__).parent / "tests" / "data"
    for source, points in VOLUME_SOURCES.items():
        image = nib.load(data / source)
        stem = source.split(".")[0]
        for t in points:
            if t is None:
                yield stem, nib.Nifti1Image(np.asanyarray(image.dataobj), image.affine)
            else:
                yield f"{stem}_t{t}", nib.Nifti1Image(np.asanyarray(image.dataobj)[..., t], image.affine)


def _upside_down(nib, image):
    """The same affine over voxels flipped along the axis that runs inferior-superior."""
    axis = [code in "SI" for code in nib.aff2axcodes(image.affine)].index(True)
    return nib.Nifti1Image(np.flip(np.asanyarray(image.dataobj), axis).copy(), image.affine)


def _write_volumes(folder: Path) -> None:
    nib = require("nibabel", "medical", "The medical example project")
    (folder / "volumes").mkdir()
    volumes, slices = [], []
    for index, (name, image) in enumerate(_volumes(nib)):
        fold, test = index % 4, name in TEST_VOLUMES
        for flipped, stored in ((0, image), (1, _upside_down(nib, image))):
            filename = f"volumes/{name}{'_flipped' if flipped else ''}.nii.gz"
            nib.save(stored, folder / filename)
            volumes.append({"id": len(volumes), "filename": filename, "label": flipped, "fold": fold, "test": test})
        depth = nib.as_closest_canonical(image).shape[2]
        if depth < MIN_SLICES:
            continue
        for s in range(depth):
            # the upright file only: the label is the anatomy's position, read through the affine
            slices.append({"id": len(slices), "filename": f"volumes/{name}.nii.gz", "slice": s, "label": int(s >= depth / 2), "fold": fold, "test": test})
    for prefix, rows in (("volumes", volumes), ("slices", slices)):
        frame = pd.DataFrame(rows)
        _split(frame.drop(columns="test"), folder, prefix, frame.test)


def _write(folder: Path) -> None:
    _write_dicom(folder)
    _write_volumes(folder)


def prepare_medical(cfg) -> Path:
    """Write the medical folder into cfg.data_dir on first use; later calls do nothing."""
    return write_folder_once(cfg.data_dir, _write)
