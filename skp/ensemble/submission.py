"""submission.csv in exactly the shape of sample_submission.csv, checked before it is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from skp.errors import SkpError
from skp.files import atomic_write


def default_submission(ids, pred: np.ndarray, sample: pd.DataFrame, id_column: str, problem: str, class_names=None):
    """Predictions -> the sample's target columns: one column per prediction column, or the
    arg-max class (index, or name from class_names) for a single-column multi-class file."""
    columns = [c for c in sample.columns if c != id_column]
    frame = pd.DataFrame({id_column: ids})
    if problem == "multiclass" and len(columns) == 1 and pred.shape[1] > 1:
        labels = pred.argmax(1)
        frame[columns[0]] = np.asarray(class_names, dtype=object)[labels] if class_names else labels
        return frame
    if len(columns) != pred.shape[1]:
        raise SkpError(
            f"sample_submission has target columns {columns} but the blend gives {pred.shape[1]} "
            f"values per row. Give the recipe to_submission=(ids, predictions, sample) -> DataFrame."
        )
    for j, column in enumerate(columns):
        values = pred[:, j]
        if pd.api.types.is_integer_dtype(sample[column]):
            values = (values > 0.5).astype(int) if problem in ("binary", "multilabel") else np.rint(values).astype(int)
        frame[column] = values
    return frame


def check_submission(frame: pd.DataFrame, sample: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """`frame` in the sample's row order, or an error naming what differs."""
    if list(frame.columns) != list(sample.columns):
        raise SkpError(f"The submission's columns {list(frame.columns)} differ from sample_submission's {list(sample.columns)}.")
    if frame[id_column].duplicated().any():
        raise SkpError(f"The submission repeats ids, e.g. {frame[id_column][frame[id_column].duplicated()].head(3).tolist()}.")
    wanted = pd.Index(sample[id_column])
    have = pd.Index(frame[id_column])
    missing, extra = wanted.difference(have), have.difference(wanted)
    if len(missing) or len(extra):
        raise SkpError(
            f"The test predictions do not match sample_submission's ids: {len(missing)} missing "
            f"(e.g. {missing[:3].tolist()}), {len(extra)} extra (e.g. {extra[:3].tolist()}). Point the "
            f"recipe's test_file at the test set sample_submission describes."
        )
    frame = frame.set_index(id_column).loc[wanted].reset_index()
    values = frame.drop(columns=[id_column])
    if values.isna().any().any():
        raise SkpError(f"The submission has NaN values in columns {values.columns[values.isna().any()].tolist()}.")
    for column in values.columns:
        want, got = sample[column].dtype, frame[column].dtype
        if want.kind != got.kind and not (want.kind in "iuf" and got.kind in "iu"):
            raise SkpError(
                f"Submission column {column!r} holds {got} values where sample_submission has {want}; "
                f"convert them in the recipe's to_submission."
            )
    return frame


def write_csv_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Nothing half-written is ever left under `path`'s name."""
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
