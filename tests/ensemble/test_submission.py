"""submission.csv takes sample_submission's exact shape, or nothing is written."""

import numpy as np
import pandas as pd
import pytest

from skp.ensemble.submission import check_submission, default_submission, write_csv_atomically
from skp.errors import SkpError


@pytest.fixture
def sample():
    return pd.DataFrame({"id": [30, 10, 20], "label": [0, 0, 0]})


def test_multiclass_probabilities_become_class_indices_in_sample_order(sample):
    pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])  # ids 10, 20, 30
    frame = default_submission([10, 20, 30], pred, sample, "id", "multiclass")
    checked = check_submission(frame, sample, "id")
    assert checked.id.tolist() == [30, 10, 20]
    assert checked.label.tolist() == [1, 1, 0]
    assert checked.label.dtype.kind == "i"


def test_class_names_and_probability_columns():
    sample = pd.DataFrame({"id": [1, 2], "label": ["cat", "cat"]})
    pred = np.array([[0.2, 0.8], [0.6, 0.4]])
    frame = default_submission([1, 2], pred, sample, "id", "multiclass", class_names=["cat", "dog"])
    assert check_submission(frame, sample, "id").label.tolist() == ["dog", "cat"]
    sample = pd.DataFrame({"id": [1, 2], "cat": [0.5, 0.5], "dog": [0.5, 0.5]})
    frame = check_submission(default_submission([1, 2], pred, sample, "id", "multiclass"), sample, "id")
    np.testing.assert_allclose(frame[["cat", "dog"]], pred)


def test_binary_integer_sample_gets_thresholded_labels():
    sample = pd.DataFrame({"id": [1, 2], "target": [0, 0]})
    frame = default_submission([1, 2], np.array([[0.7], [0.2]]), sample, "id", "binary")
    assert frame.target.tolist() == [1, 0]


def test_width_mismatch_asks_for_to_submission():
    sample = pd.DataFrame({"id": [1], "a": [0.0], "b": [0.0]})
    with pytest.raises(SkpError, match="to_submission"):
        default_submission([1], np.zeros((1, 3)), sample, "id", "multilabel")


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"id": [10, 20], "label": [1, 2]}), "1 missing"),
        (pd.DataFrame({"id": [10, 20, 30, 40], "label": [1, 2, 3, 4]}), "1 extra"),
        (pd.DataFrame({"id": [10, 20, 30], "label": [1.0, np.nan, 2.0]}), "NaN"),
        (pd.DataFrame({"id": [10, 20, 30], "class": [1, 2, 3]}), "columns"),
        (pd.DataFrame({"id": [10, 20, 20], "label": [1, 2, 3]}), "repeats ids"),
        (pd.DataFrame({"id": [10, 20, 30], "label": ["a", "b", "c"]}), "label. holds .* values where sample_submission has int64"),
    ],
)
def test_bad_submissions_are_refused_with_the_reason(sample, frame, message):
    with pytest.raises(SkpError, match=message):
        check_submission(frame, sample, "id")


def test_written_atomically(tmp_path, sample):
    path = tmp_path / "submission.csv"
    write_csv_atomically(sample, path)
    assert pd.read_csv(path).equals(sample)
    assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]
