"""Segmentation blends: chunked per-pixel means, thresholds and speck removal fitted on OOF Dice."""

import cv2
import numpy as np

from skp.ensemble.mask_blend import MapFile, blend_maps, drop_small_components, fit_thresholds, greedy_weights, image_dice, mean_dice


def _disks(n=12, size=32, seed=0):
    """Boolean (n, 1, size, size) masks, a disk in every other image, the rest empty."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, 1, size, size), np.uint8)
    for i in range(0, n, 2):
        cv2.circle(masks[i, 0], tuple(int(v) for v in rng.integers(10, size - 10, 2)), 6, 1, -1)
    return masks.astype(bool)


def test_blend_is_the_weighted_mean_chunk_by_chunk_into_a_memory_mapped_file(tmp_path):
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (10, 2, 8, 8), dtype=np.uint8) for _ in range(2))
    out = np.lib.format.open_memmap(tmp_path / "blend.npy", mode="w+", dtype=np.uint8, shape=a.shape)
    blend_maps([a, b], [3, 1], out, chunk=3)
    expected = np.rint(0.75 * a.astype(np.float32) + 0.25 * b.astype(np.float32)).astype(np.uint8)
    assert np.array_equal(np.load(tmp_path / "blend.npy"), expected)


def test_small_components_are_dropped_and_large_ones_kept():
    mask = np.zeros((20, 20), bool)
    mask[2:4, 2:4] = True  # 4 pixels
    mask[10:18, 10:18] = True  # 64 pixels
    kept = drop_small_components(mask, 5)
    assert not kept[2:4, 2:4].any() and kept[10:18, 10:18].all()
    assert np.array_equal(drop_small_components(mask, 0), mask)


def test_empty_prediction_on_an_empty_image_scores_one():
    empty = np.zeros((1, 1, 4, 4), bool)
    full = np.ones((1, 1, 4, 4), bool)
    assert image_dice(empty, empty)[0, 0] == 1.0 and image_dice(full, empty)[0, 0] == 0.0


def test_threshold_and_speck_size_are_fitted_on_oof():
    true = _disks()
    # an under-confident model: 0.4 on the disks, 0.1 elsewhere, and a confident 3-pixel
    # speck on every empty image; at 0.5 it predicts nothing, and specks cost empty images
    probabilities = np.where(true, 102, 25).astype(np.uint8)
    probabilities[1::2, 0, 0, :3] = 240
    fitted = fit_thresholds(probabilities, true)
    assert 0.1 <= fitted["thresholds"][0] < 0.4
    assert 4 <= fitted["min_sizes"][0] <= 64  # drops the specks, keeps the disks (113 pixels)
    assert fitted["dice"] == 1.0 and fitted["dice_at_0.5"] == 0.0  # at 0.5 the disks vanish and specks fail the rest
    assert mean_dice(probabilities, true, fitted["thresholds"], fitted["min_sizes"]) == 1.0


def test_greedy_selection_prefers_the_member_that_finds_the_disks():
    true = _disks()
    good = np.where(true, 230, 10).astype(np.uint8)
    blind = np.full_like(good, 10)
    counts = greedy_weights([blind, good], true, rounds=5)
    assert counts[1] >= 1 and counts[1] > counts[0]


def test_map_files_read_and_write_rows_like_the_array_they_hold(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, (7, 2, 3, 4), dtype=np.uint8)
    np.save(tmp_path / "saved.npy", data)
    saved = MapFile(tmp_path / "saved.npy")
    assert saved.shape == data.shape and len(saved) == 7
    assert np.array_equal(saved[2:5], data[2:5]) and np.array_equal(saved[6], data[6]) and np.array_equal(saved[5:99], data[5:])
    made = MapFile(tmp_path / "made.npy", shape=(4, 2, 2), dtype=bool)
    made[[3, 0]] = np.ones((2, 2, 2), bool)  # rows in any order
    made[1:2] = np.eye(2, dtype=bool)[None]
    expected = np.zeros((4, 2, 2), bool)
    expected[[0, 3]], expected[1] = True, np.eye(2, dtype=bool)
    assert np.array_equal(np.load(tmp_path / "made.npy"), expected)  # a plain .npy file
    blend_maps([saved, saved], [1, 1], MapFile(tmp_path / "blend.npy", shape=data.shape), chunk=3)
    assert np.array_equal(np.load(tmp_path / "blend.npy"), data)
