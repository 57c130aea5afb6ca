"""The fashion project's folder, written from the real Fashion-MNIST files (a small part of them)."""

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skp.cli import main as skp_main
from skp.configs import load_config
from skp.toolbox import prepare_fashion as fashion

TRAIN, TEST = 600, 200
NO_DEBIAN = "Debian's dataset-fashion-mnist is not installed (.ci/run installs it)"
HAVE_DEBIAN = (fashion.DEBIAN_FOLDER / "train-images-idx3-ubyte.gz").is_file()
needs_debian = pytest.mark.skipif(not HAVE_DEBIAN, reason=NO_DEBIAN)


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    header = (0x0800 + array.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


@pytest.fixture(scope="session")
def real_arrays():
    if not HAVE_DEBIAN:
        pytest.skip(NO_DEBIAN)
    arrays = fashion.read_idx_folder(fashion.DEBIAN_FOLDER)
    return {k: v[:TRAIN] if k.startswith("train") else v[:TEST] for k, v in arrays.items()}


@pytest.fixture(scope="session")
def small_idx_source(tmp_path_factory, real_arrays) -> Path:
    """The first 600 training and 200 test images of the real idx files, as idx files."""
    folder = tmp_path_factory.mktemp("fashion-idx")
    for key, stem in fashion.IDX_FILES.items():
        write_idx(folder / f"{stem}.gz", real_arrays[key])
    return folder


def kaggle_csv(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    frame = pd.DataFrame(images.reshape(len(images), -1), columns=fashion.CSV_COLUMNS[1:])
    frame.insert(0, "label", labels)
    frame.to_csv(path, index=False)


def prepare(tmp_path, *overrides) -> Path:
    cfg = load_config("fashion.cfg_baseline", ["--data_dir", str(tmp_path / "fashion"), "--train_subset", "300", *overrides])
    return cfg.prepare_data(cfg)


@needs_debian
def test_debian_files_hold_all_of_fashion_mnist():
    arrays = fashion.read_idx_folder(fashion.DEBIAN_FOLDER)
    assert arrays["train_images"].shape == (60000, 28, 28) and arrays["test_images"].shape == (10000, 28, 28)
    assert np.bincount(arrays["train_labels"]).tolist() == [6000] * 10
    assert np.bincount(arrays["test_labels"]).tolist() == [1000] * 10


def test_the_folder_is_a_kaggle_competition_with_stratified_folds(tmp_path, small_idx_source, real_arrays):
    folder = prepare(tmp_path, "--fashion_source", str(small_idx_source))
    full = pd.read_csv(folder / "train_full.csv")
    train = pd.read_csv(folder / "train.csv")
    test = pd.read_csv(folder / "test.csv")
    assert list(train.columns) == ["id", "filename", "label", "fold"] and list(test.columns) == ["id", "filename"]
    assert len(full) == TRAIN and len(train) == 300 and len(test) == TEST
    # the subset keeps the full set's folds and every class in every fold
    assert full.set_index("id").loc[train.id, "fold"].tolist() == train.fold.tolist()
    assert train.groupby("fold").label.nunique().min() == 10
    assert set(full.id).isdisjoint(test.id)
    solution = pd.read_csv(folder / "solution.csv")
    assert solution.id.tolist() == test.id.tolist()
    assert solution.label.tolist() == real_arrays["test_labels"].tolist()
    sample = pd.read_csv(folder / "sample_submission.csv")
    assert list(sample.columns) == ["id", "label"] and sample.id.tolist() == test.id.tolist()
    import cv2

    image = cv2.imread(str(folder / test.filename[3]), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(image, real_arrays["test_images"][3])  # PNGs hold the original pixels
    assert json.loads((folder / fashion.META_FILE).read_text())["train_subset"] == 300


def test_kaggle_csv_files_give_the_same_folder_as_idx_files(tmp_path, small_idx_source, real_arrays):
    source = tmp_path / "kaggle"
    source.mkdir()
    kaggle_csv(source / "fashion-mnist_train.csv", real_arrays["train_images"], real_arrays["train_labels"])
    kaggle_csv(source / "fashion-mnist_test.csv", real_arrays["test_images"], real_arrays["test_labels"])
    from_csv = prepare(tmp_path / "a", "--fashion_source", str(source))
    from_idx = prepare(tmp_path / "b", "--fashion_source", str(small_idx_source))
    for name in ("train.csv", "train_full.csv", "test.csv", "solution.csv"):
        assert (from_csv / name).read_text() == (from_idx / name).read_text()


def test_a_folder_prepared_for_another_subset_is_refused(tmp_path, small_idx_source):
    prepare(tmp_path, "--fashion_source", str(small_idx_source))
    with pytest.raises(Exception, match="train_subset 300"):
        prepare(tmp_path, "--fashion_source", str(small_idx_source), "--train_subset", "200")


def _prepare_exit(tmp_path, capsys, *overrides) -> tuple[int, str]:
    code = skp_main(["prepare", "fashion.cfg_baseline", "--data_dir", str(tmp_path / "out" / "fashion"), *overrides])
    return code, capsys.readouterr().err


def test_no_source_names_the_three_ways_and_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fashion, "DEBIAN_FOLDER", tmp_path / "no-debian")
    monkeypatch.chdir(tmp_path)
    code, err = _prepare_exit(tmp_path, capsys)
    assert code == 2
    assert "apt-get install dataset-fashion-mnist" in err and "fashion-mnist_train.csv" in err and "--fashion_source" in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "fashion").exists()


def test_a_truncated_idx_file_exits_2(tmp_path, capsys, small_idx_source):
    source = tmp_path / "truncated"
    source.mkdir()
    for path in small_idx_source.iterdir():
        data = gzip.decompress(path.read_bytes())
        if path.name.startswith("t10k-images"):
            data = data[: len(data) // 2]
        (source / path.name.removesuffix(".gz")).write_bytes(data)
    code, err = _prepare_exit(tmp_path, capsys, "--fashion_source", str(source))
    assert code == 2 and "t10k-images-idx3-ubyte is truncated or damaged" in err and "Traceback" not in err


def test_a_cut_gzip_stream_exits_2(tmp_path, capsys, small_idx_source):
    source = tmp_path / "cut"
    source.mkdir()
    for path in small_idx_source.iterdir():
        data = path.read_bytes()
        (source / path.name).write_bytes(data[: len(data) // 2] if path.name.startswith("train-images") else data)
    code, err = _prepare_exit(tmp_path, capsys, "--fashion_source", str(source))
    assert code == 2 and "train-images-idx3-ubyte.gz" in err and "Traceback" not in err


def test_a_csv_with_the_wrong_columns_exits_2(tmp_path, capsys, real_arrays):
    source = tmp_path / "kaggle"
    source.mkdir()
    kaggle_csv(source / "fashion-mnist_train.csv", real_arrays["train_images"], real_arrays["train_labels"])
    frame = pd.DataFrame(real_arrays["test_images"].reshape(TEST, -1))  # columns 0..783, no label
    frame.to_csv(source / "fashion-mnist_test.csv", index=False)
    code, err = _prepare_exit(tmp_path, capsys, "--fashion_source", str(source))
    assert code == 2 and "fashion-mnist_test.csv does not have Kaggle's Fashion-MNIST columns" in err


@pytest.mark.slow
def test_study_promotion_and_default_blend_make_a_submission(tmp_path, monkeypatch, small_idx_source):
    """The loop on the real files (600 training images, a few batches): a 2-trial study, both
    trials promoted to every fold, the shipped recipe's default blend into a submission."""
    import shutil

    from skp.ensemble.cli import main as ensemble_main
    from skp.tune.cli import main as tune_main

    data = ["--data_dir", str(tmp_path / "fashion"), "--fashion_source", str(small_idx_source), "--train_subset", "300"]
    tiny = ["--num_epochs", "1", "--limit_train_batches", "2", "--batch_size", "32", "--enable_progress_bar", "False"]
    assert tune_main(["fashion.cfg_baseline", "--trials", "2", "--pruner", "none", "--no-export", "--promote", "2", *tiny, *data]) == 0

    recipes = tmp_path / "ensembles"
    (recipes / "fashion").mkdir(parents=True)
    shutil.copy(Path(__file__).parents[2] / "ensembles" / "fashion" / "ens_tuned.py", recipes / "fashion")
    monkeypatch.setenv("SKP_ENSEMBLES_DIR", str(recipes))
    assert ensemble_main(["fashion.ens_tuned"]) == 0
    output = recipes / "fashion" / "ens_tuned"
    summary = json.loads((output / "weights.json").read_text())
    assert summary["method"].startswith("auto: ") and len(summary["members"]) == 2
    assert summary["blend"]["gain_over_best_member"] >= 0  # auto never loses to its best member on CV
    assert summary["blend"]["test"] is not None  # scored on solution.csv
    sample = pd.read_csv(tmp_path / "fashion" / "sample_submission.csv")
    submission = pd.read_csv(output / "submission.csv")
    assert list(submission.columns) == list(sample.columns) and submission.id.tolist() == sample.id.tolist()
    assert submission.label.between(0, 9).all()
    assert "auto" in (output / "report.md").read_text()


def test_a_half_written_folder_is_refused_with_what_to_do(tmp_path, capsys, small_idx_source):
    (tmp_path / "out" / "fashion").mkdir(parents=True)
    (tmp_path / "out" / "fashion" / "train.csv").write_text("id\n")
    code, err = _prepare_exit(tmp_path, capsys, "--fashion_source", str(small_idx_source))
    assert code == 2 and "not written completely" in err and "Traceback" not in err
