"""Segmentation submissions: run-length encoding and geometric TTA on masks."""

import numpy as np
import pytest
import torch

from skp.ensemble.mask_tta import MASK_VIEWS, apply_view, check_views, undo_view
from skp.toolbox.masks import rle_decode, rle_encode
from skp.errors import SkpError

# not symmetric under any flip, transpose or rotation
L_SHAPE = np.array([
    [1, 0, 0, 0],
    [1, 0, 0, 0],
    [1, 1, 1, 0],
    [0, 0, 0, 0],
], dtype=np.uint8)


def test_rle_numbers_pixels_down_the_columns_from_one():
    # column-major: column 0 holds pixels 1-4 (ones at 1, 2, 3), then 7 and 11 in columns 1 and 2
    assert rle_encode(L_SHAPE) == "1 3 7 1 11 1"
    assert rle_encode(L_SHAPE, order="C") == "1 1 5 1 9 3"


@pytest.mark.parametrize("order", ["F", "C"])
@pytest.mark.parametrize("mask", [
    L_SHAPE,
    np.zeros((5, 3), np.uint8),
    np.ones((5, 3), np.uint8),
    np.eye(6, dtype=np.uint8)[:, ::-1],
    (np.random.default_rng(0).random((37, 23)) > 0.5).astype(np.uint8),
], ids=["L", "empty", "full", "anti-diagonal", "random"])
def test_rle_round_trips(mask, order):
    text = rle_encode(mask, order)
    assert np.array_equal(rle_decode(text, mask.shape, order), mask)


def test_empty_and_full_masks():
    assert rle_encode(np.zeros((4, 4))) == ""
    assert rle_encode(np.ones((4, 4))) == "1 16"
    assert not rle_decode("", (4, 4)).any() and not rle_decode(float("nan"), (4, 4)).any()  # pandas reads "" as NaN


@pytest.mark.parametrize("text, problem", [("1 2 3", "odd count"), ("0 2", "outside"), ("15 3", "outside"), ("1 x", "other than integers")])
def test_bad_rle_is_named(text, problem):
    with pytest.raises(SkpError, match=problem):
        rle_decode(text, (4, 4))


@pytest.mark.parametrize("view", MASK_VIEWS)
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_every_view_is_undone_exactly(view, kind):
    batch = np.stack([L_SHAPE, L_SHAPE.T[::-1]])[:, None].astype(np.float32)  # (N, C, H, W)
    x = torch.from_numpy(batch) if kind == "torch" else batch
    seen = apply_view(x, view)
    assert not np.array_equal(np.asarray(seen), batch)  # the view changes a non-symmetric mask
    back = np.asarray(undo_view(seen, view))
    assert np.array_equal(back, batch)


def test_views_that_swap_height_and_width_need_square_inputs():
    check_views(["hflip", "vflip", "rot180"], 32, 48)
    with pytest.raises(SkpError, match="square"):
        check_views(["hflip", "rot90"], 32, 48)
    with pytest.raises(SkpError, match="Unknown TTA"):
        check_views(["spin"], 32, 32)


def test_shapes_has_a_sample_submission_and_scorable_test_masks(tmp_path):
    from types import SimpleNamespace

    import cv2
    import pandas as pd

    from skp.toolbox.prepare_shapes import prepare_shapes

    folder = prepare_shapes(SimpleNamespace(data_dir=tmp_path / "shapes"))
    test = pd.read_csv(folder / "test.csv")
    sample = pd.read_csv(folder / "sample_submission.csv", keep_default_na=False)
    solution = pd.read_csv(folder / "solution.csv", keep_default_na=False)
    assert list(sample.columns) == ["id", "EncodedPixels"] and (sample.EncodedPixels == "").all()
    assert list(sample.id) == list(solution.id) == list(test.id)
    for row in solution.itertuples():
        mask = cv2.imread(str(folder / f"masks/{row.id:04d}.png"), cv2.IMREAD_GRAYSCALE) > 0
        assert np.array_equal(rle_decode(row.EncodedPixels, mask.shape), mask)
    assert (solution.EncodedPixels != "").sum() > len(solution) // 2  # most test images hold a disk
    (folder / "solution.csv").unlink()  # a folder written before these files existed gets them
    (folder / "sample_submission.csv").unlink()
    prepare_shapes(SimpleNamespace(data_dir=folder))
    assert pd.read_csv(folder / "solution.csv", keep_default_na=False).equals(solution)
