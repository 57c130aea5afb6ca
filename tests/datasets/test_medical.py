"""DICOM and NIfTI inputs, on the real files pydicom and nibabel ship."""

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from skp import resolve
from skp.errors import SkpError

pydicom = pytest.importorskip("pydicom")
nib = pytest.importorskip("nibabel")

from skp.datasets.stacks import with_context  # noqa: E402
from skp.toolbox.dicom import display_stack, read_dicom  # noqa: E402
from skp.toolbox.volumes import read_volume, slice_stack  # noqa: E402

DICOM = Path(pydicom.__file__).parent / "data" / "test_files"
NIFTI = Path(nib.__file__).parent / "tests" / "data"
CT = str(DICOM / "CT_small.dcm")
CR_MONOCHROME1 = str(DICOM / "dicomdirtests/77654033/CR1/6154")
CT_WITH_WINDOW = str(DICOM / "dicomdirtests/77654033/CT2/17106")
MULTI_FRAME = str(DICOM / "rtdose.dcm")
NEEDS_PLUGIN = str(DICOM / "MR_small_jpeg_ls_lossless.dcm")


def hand_window(values, centre, width):
    return np.rint(np.clip((values - (centre - width / 2)) / width, 0, 1) * 255)


def test_ct_values_are_hounsfield_units_and_windows_match_a_hand_computation():
    header = pydicom.dcmread(CT)
    hounsfield = header.pixel_array.astype(np.float64) * float(header.RescaleSlope) + float(header.RescaleIntercept)
    image = read_dicom(CT)
    assert image.frames.shape == (1, 128, 128) and not image.monochrome1
    np.testing.assert_array_equal(image.frames[0], hounsfield)
    assert hounsfield.min() < 0  # intercept -1024: air and fat below zero
    stack = display_stack(image, [(40, 400), (600, 2800)], CT)
    assert stack.shape == (1, 128, 128, 2) and stack.dtype == np.uint8
    np.testing.assert_array_equal(stack[0, ..., 0], hand_window(hounsfield, 40, 400))
    np.testing.assert_array_equal(stack[0, ..., 1], hand_window(hounsfield, 600, 2800))


def test_header_window_is_the_files_own():
    header = pydicom.dcmread(CT_WITH_WINDOW)
    hounsfield = header.pixel_array * float(header.RescaleSlope) + float(header.RescaleIntercept)
    stack = display_stack(read_dicom(CT_WITH_WINDOW), "header", CT_WITH_WINDOW)
    np.testing.assert_array_equal(stack[0, ..., 0], hand_window(hounsfield, float(header.WindowCenter), float(header.WindowWidth)))


def test_voi_lut_serves_as_header_window_when_no_window_tags(tmp_path):
    ds = pydicom.dcmread(CT_WITH_WINDOW)
    del ds.WindowCenter, ds.WindowWidth
    item = pydicom.Dataset()
    # 256 entries from -1024 HU, 8-bit output; the descriptor's first input value is signed
    item.add_new(0x00283002, "SS", [256, -1024, 8])
    item.add_new(0x00283006, "OW", np.arange(256, dtype=np.uint16).tobytes())
    ds.VOILUTSequence = pydicom.Sequence([item])
    path = str(tmp_path / "lut.dcm")
    ds.save_as(path)
    hounsfield = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    expected = np.clip(hounsfield + 1024, 0, 255)  # the LUT is the identity over its 256 entries
    np.testing.assert_array_equal(display_stack(read_dicom(path), "header", path)[0, ..., 0], expected)


def test_monochrome1_is_inverted():
    header = pydicom.dcmread(CR_MONOCHROME1)
    assert header.PhotometricInterpretation == "MONOCHROME1"
    values = header.pixel_array * float(header.RescaleSlope) + float(header.RescaleIntercept)
    stack = display_stack(read_dicom(CR_MONOCHROME1), "header", CR_MONOCHROME1)
    np.testing.assert_array_equal(stack[0, ..., 0], 255 - hand_window(values, float(header.WindowCenter), float(header.WindowWidth)))


def test_a_file_without_window_cannot_use_header():
    with pytest.raises(SkpError, match=r"names no window.*cfg.windows = \[\(40, 400\)\]"):
        display_stack(read_dicom(CT), "header", CT)


def test_multi_frame_file_yields_its_frames_and_neighbours_stack_as_channels():
    frames = pydicom.dcmread(MULTI_FRAME).pixel_array
    stack = display_stack(read_dicom(MULTI_FRAME), "minmax", MULTI_FRAME)
    assert stack.shape == (15, 10, 10, 1)
    low, high = frames.min(), frames.max()  # one range for the file: frames stay comparable
    np.testing.assert_array_equal(stack[..., 0], hand_window(frames.astype(np.float64), (low + high) / 2, high - low))
    first = with_context(stack, 0, 1, MULTI_FRAME)
    assert first.shape == (10, 10, 3)
    np.testing.assert_array_equal(first[..., 0], stack[0, ..., 0])  # repeated at the start
    np.testing.assert_array_equal(first[..., 2], stack[1, ..., 0])
    with pytest.raises(SkpError, match="has 15 slice"):
        with_context(stack, 15, 0, MULTI_FRAME)


def test_context_channels_are_slice_major():
    stack = np.arange(4 * 2 * 2 * 2, dtype=np.uint8).reshape(4, 2, 2, 2)  # 4 slices, 2 windows
    image = with_context(stack, 2, 1, "x")
    expected = [stack[1, ..., 0], stack[1, ..., 1], stack[2, ..., 0], stack[2, ..., 1], stack[3, ..., 0], stack[3, ..., 1]]
    np.testing.assert_array_equal(np.moveaxis(image, -1, 0), expected)


@pytest.mark.parametrize("path", [NEEDS_PLUGIN, "not_dicom"])
def test_unreadable_or_undecodable_files_say_what_to_do(path, tmp_path):
    if path == "not_dicom":
        path = str(tmp_path / "x.dcm")
        Path(path).write_text("not a DICOM file")
        message = r"Could not read .*x\.dcm as DICOM"
    else:
        message = r"(?s)Could not decode the pixel data of .*JPEG-LS.*pip install pylibjpeg"
    with pytest.raises(SkpError, match=message):
        read_dicom(path)


def test_missing_pydicom_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(SkpError, match=r"pip install 'skp\[medical\]'"):
        read_dicom(CT)


def test_volumes_are_read_in_ras_orientation():
    path = str(NIFTI / "anatomical.nii")
    stored = nib.load(path)
    assert nib.aff2axcodes(stored.affine) == ("L", "A", "S")
    values, _ = read_volume(path)
    np.testing.assert_array_equal(values, np.flip(stored.get_fdata(), axis=0))  # L -> R along axis 0


def test_slices_and_their_neighbours_from_a_volume():
    path = str(NIFTI / "anatomical.nii")
    values, header_window = read_volume(path)
    stack = slice_stack(values, header_window, "minmax", 2, path)
    assert stack.shape == (25, 33, 41, 1)
    low, high = values.min(), values.max()
    np.testing.assert_array_equal(stack[7, ..., 0], hand_window(values[:, :, 7], (low + high) / 2, high - low))
    image = with_context(stack, 7, 2, path)
    assert image.shape == (33, 41, 5)
    for channel, s in enumerate(range(5, 10)):
        np.testing.assert_array_equal(image[..., channel], stack[s, ..., 0])


def test_a_volume_without_display_range_cannot_use_header():
    path = str(NIFTI / "anatomical.nii")
    values, header_window = read_volume(path)
    with pytest.raises(SkpError, match="sets no display range"):
        slice_stack(values, header_window, "header", 2, path)


def test_a_4d_series_asks_to_be_split():
    with pytest.raises(SkpError, match="four_to_three"):
        read_volume(str(NIFTI / "functional.nii"))


@pytest.mark.parametrize("windows", ["None", "[(40, 0)]", "soft", "[40, 400]"])
def test_bad_windows_are_named(windows, small_config):
    cfg = small_config("medical.cfg_dicom", ["--windows", windows])
    with pytest.raises(SkpError, match=r"cfg.windows is .*\(centre, width\)"):
        resolve("datasets", "dicom2d")(cfg, "train")


def test_the_upside_down_volumes_differ_only_through_their_orientation(small_config):
    cfg = small_config("medical.cfg_volume")
    frame = pd.read_csv(Path(cfg.data_dir) / "volumes_train.csv")
    upright, flipped = frame[frame.label == 0].iloc[0], frame[frame.label == 1].iloc[0]
    assert flipped.filename == upright.filename.replace(".nii.gz", "_flipped.nii.gz")
    a, _ = read_volume(str(Path(cfg.data_dir) / upright.filename))
    b, _ = read_volume(str(Path(cfg.data_dir) / flipped.filename))
    np.testing.assert_array_equal(b, np.flip(a, axis=2))  # superior-inferior in RAS+


def test_the_same_anatomy_stored_in_another_axis_order_gives_the_same_items(small_config, tmp_path):
    image = nib.load(NIFTI / "anatomical.nii")  # LAS
    data = np.asanyarray(image.dataobj)
    # RAS storage of the same voxels: x reversed, and the affine's x column so that it says so
    affine = image.affine.copy()
    affine[:, 3] = image.affine @ np.array([data.shape[0] - 1, 0, 0, 1])
    affine[:, 0] *= -1
    nib.save(nib.Nifti1Image(data[::-1].copy(), image.affine), tmp_path / "las.nii.gz")
    nib.save(nib.Nifti1Image(np.asanyarray(image.dataobj), image.affine), tmp_path / "las_copy.nii.gz")
    ras = nib.Nifti1Image(data[::-1].copy(), affine)
    assert nib.aff2axcodes(ras.affine) == ("R", "A", "S")
    nib.save(ras, tmp_path / "ras.nii.gz")
    rows = pd.DataFrame({"id": [0, 1, 2], "filename": ["las_copy.nii.gz", "ras.nii.gz", "las.nii.gz"], "label": [0, 0, 1], "fold": [0, 0, 1]})
    rows.to_csv(tmp_path / "volumes.csv", index=False)
    cfg = small_config("medical.cfg_volume", ["--data_dir", str(tmp_path), "--prepare_data", "None", "--annotations_file", "volumes.csv"])
    val = resolve("datasets", "nifti3d")(cfg, "val")
    torch.testing.assert_close(val[0]["x"], val[1]["x"])  # LAS and RAS files of one head: one tensor
    mirrored = resolve("datasets", "nifti3d")(cfg.copy(), "train")  # voxels reversed, affine not: a mirror image
    mirrored.flips = []
    assert not torch.equal(mirrored[0]["x"], val[0]["x"])


def test_volume_dataset_gives_a_resized_3d_tensor(small_config):
    cfg = small_config("medical.cfg_volume", ["--volume_shape", "(8, 16, 16)"])
    dataset = resolve("datasets", "nifti3d")(cfg, "val")
    item = dataset[0]
    assert item["x"].shape == (1, 8, 16, 16) and item["x"].dtype == torch.float32
    assert 0 <= item["x"].min() and item["x"].max() <= 255


def test_slice_dataset_checks_its_channel_count(small_config):
    cfg = small_config("medical.cfg_slices", ["--slice_context", "2"])
    with pytest.raises(SkpError, match=r"gives 5 input channel\(s\).*num_input_channels = 5"):
        resolve("datasets", "nifti")(cfg, "train")


def test_multi_frame_rows_need_a_slice_column(small_config, tmp_path):
    frame = pd.DataFrame({"id": [0, 1], "filename": [MULTI_FRAME] * 2, "label": [0, 1], "fold": [0, 1]})
    frame.to_csv(tmp_path / "train.csv", index=False)
    overrides = ["--data_dir", str(tmp_path), "--prepare_data", "None", "--annotations_file", "train.csv", "--windows", "minmax"]
    dataset = resolve("datasets", "dicom2d")(small_config("medical.cfg_dicom", overrides), "train")
    with pytest.raises(SkpError, match="holds 15 frames.*cfg.slice_column"):
        dataset[0]
    frame.assign(frame_index=[3, 9]).to_csv(tmp_path / "train.csv", index=False)
    cfg = small_config("medical.cfg_dicom", [*overrides, "--slice_column", "frame_index"])
    cfg.train_transforms = None  # the frame as stored, 10 x 10
    item = resolve("datasets", "dicom2d")(cfg, "train")[0]  # the row of fold 1, frame 9
    expected = display_stack(read_dicom(MULTI_FRAME), "minmax", MULTI_FRAME)[9, ..., 0]
    np.testing.assert_array_equal(item["x"][0].numpy(), expected)


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_stacks_are_decoded_once(mode, small_config, tmp_path, monkeypatch):
    from skp.datasets import stacks

    monkeypatch.setattr(stacks, "_in_memory", {})
    cfg = small_config("medical.cfg_slices", ["--cache_images", str(mode), "--cache_dir", str(tmp_path / "cache")])
    dataset = resolve("datasets", "nifti")(cfg, "val")  # no random flips: items repeat exactly
    reads = []
    original = dataset.stacks.read
    monkeypatch.setattr(dataset.stacks, "read", lambda path: reads.append(path) or original(path))
    first = [dataset[i]["x"] for i in range(len(dataset))]
    again = [dataset[i]["x"] for i in range(len(dataset))]
    assert len(reads) == len(set(dataset.paths))  # one read per volume, not per slice or epoch
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    if mode == "disk":
        assert len(list((tmp_path / "cache").glob("*.npy"))) == len(set(dataset.paths))
        fresh = resolve("datasets", "nifti")(cfg, "val")  # another process would find the files
        monkeypatch.setattr(fresh.stacks, "read", lambda path: pytest.fail("decoded again"))
        assert torch.equal(fresh[0]["x"], first[0])


def test_inflated_convolution_sees_a_constant_volume_as_its_image():
    from skp.models.inflate import inflate

    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    inflated = inflate(torch.nn.Sequential(conv), "conv")[0]
    image = torch.rand(1, 3, 8, 8)
    volume = image[:, :, None].repeat(1, 1, 5, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(inflated(volume)[:, :, 2], conv(image))


def test_too_small_a_volume_says_how_large(small_config):
    cfg = small_config("medical.cfg_volume", ["--volume_shape", "(16, 32, 32)"])
    net = resolve("models", "classification.net3d")(cfg).eval()
    with pytest.raises(SkpError, match=r"\(16, 32, 32\) is too small for resnet10t.*32 or more"):
        net({"x": torch.rand(1, 1, 16, 32, 32)})


def test_backbones_with_2d_arithmetic_are_refused(small_config):
    cfg = small_config("medical.cfg_volume", ["--backbone", "seresnet18"])
    with pytest.raises(SkpError, match=r"cannot be inflated to 3D.*SEModule"):
        resolve("models", "classification.net3d")(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("config", ["medical.cfg_dicom", "medical.cfg_slices", "medical.cfg_volume"])
def test_medical_configs_train_end_to_end(config, tmp_path):
    from skp.train import main

    assert main([config, "--kfold", "0", "--num_epochs", "1", "--save_dir", str(tmp_path), "--num_workers", "0"]) == 0
    assert list(tmp_path.rglob("fold0/oof.csv"))


@pytest.mark.slow
def test_volumes_train_on_every_fold_and_blend_into_a_submission(tmp_path, monkeypatch):
    from skp.ensemble.cli import main as ensemble
    from skp.train import main as train

    monkeypatch.setenv("SKP_SAVE_DIR", str(tmp_path / "runs"))
    assert train(["medical.cfg_volume", "--kfold", "0,1,2,3", "--num_epochs", "1", "--run_id", "smoke"]) == 0
    out = tmp_path / "ensemble"
    assert ensemble(["--run", "medical.cfg_volume:smoke", "--output", str(out)]) == 0
    submission = pd.read_csv(out / "submission.csv")
    solution = pd.read_csv(Path(load_data_dir("medical.cfg_volume")) / "volumes_solution.csv")
    assert list(submission.id) == list(solution.id)


def load_data_dir(config):
    from skp.configs import load_config

    return load_config(config).data_dir


def test_3d_items_refuse_2d_transforms(small_config):
    cfg = small_config("medical.cfg_volume")
    cfg.val_transforms = __import__("albumentations").HorizontalFlip(p=1.0)  # what a TTA view adds
    with pytest.raises(SkpError, match="act on 2D images"):
        resolve("datasets", "nifti3d")(cfg, "val")


FEEDER_RACE = re.compile(r'Traceback \(most recent call last\):\n  File "[^"]*multiprocessing/queues\.py", line \d+, in _feed\n'
                         r"(?:  .*\n)*?OSError: \[Errno 9\] Bad file descriptor\n")


@pytest.mark.parametrize("workers", [0, 2])  # a loader worker's error comes back with its traceback in front
@pytest.mark.parametrize("bad", ["needs a plugin", "not DICOM"])
def test_a_file_that_cannot_be_read_ends_in_one_paragraph(bad, workers, tmp_path, capsys):
    from skp.train import main

    path, expected = NEEDS_PLUGIN, "pip install pylibjpeg"
    if bad == "not DICOM":
        path, expected = str(tmp_path / "scan.dcm"), "as DICOM"
        Path(path).write_bytes(b"\x00" * 200)
    frame = pd.DataFrame({"id": range(4), "filename": [path] * 4, "label": [0, 1, 0, 1], "fold": [0, 0, 1, 1]})
    frame.to_csv(tmp_path / "train.csv", index=False)
    argv = ["medical.cfg_dicom", "--data_dir", str(tmp_path), "--prepare_data", "None", "--annotations_file", "train.csv",
            "--kfold", "0", "--save_dir", str(tmp_path / "runs"), "--num_classes", "2", "--num_workers", str(workers)]
    assert main(argv) == 2
    # CPython's queue feeder thread can race the loader's shutdown and print a traceback of its
    # own (EBADF in multiprocessing/queues.py's _feed; seen in 1 of 5 CI runs): not skp's to cut
    error = FEEDER_RACE.sub("", capsys.readouterr().err)
    assert "Traceback" not in error and "Caught SkpError" not in error and expected in error
    assert error.strip().splitlines()[-1].startswith("skp-train: error: Could not")  # one paragraph
