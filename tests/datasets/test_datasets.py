import shutil

import pandas as pd
import pytest
import torch

from skp import list_components, resolve
from skp.errors import SkpError
from tests.components import config_using


@pytest.mark.parametrize("name", list_components("datasets"))
def test_every_dataset_serves_each_mode(name, small_config):
    cfg = small_config(config_using("dataset", name))
    dataset_class = resolve("datasets", name)
    train, val, inference = (dataset_class(cfg, mode) for mode in ("train", "val", "inference"))
    assert len(train) and len(val) and len(inference)
    assert not set(train.ids) & set(val.ids)  # a fold never trains on its validation rows
    item = val[0]
    assert item["x"].dtype == torch.float32 and item["x"].shape[-2:] == (32, 32)
    assert "y" in item and "y" not in inference[0]
    assert item["index"] == 0


def test_fold_filtering_matches_the_csv(small_config):
    cfg = small_config("digits.cfg_baseline", ["--fold", "3"])
    frame = pd.read_csv(f"{cfg.data_dir}/train.csv")
    val = resolve("datasets", "simple2d")(cfg, "val")
    assert sorted(val.ids) == sorted(frame[frame.fold == 3].id)


def test_digits_folder_is_kaggle_shaped(small_config):
    cfg = small_config("digits.cfg_baseline")
    train = pd.read_csv(f"{cfg.data_dir}/train.csv")
    test = pd.read_csv(f"{cfg.data_dir}/test.csv")
    submission = pd.read_csv(f"{cfg.data_dir}/sample_submission.csv")
    solution = pd.read_csv(f"{cfg.data_dir}/solution.csv")
    assert len(train) + len(test) == 1797
    assert sorted(train.fold.unique()) == [0, 1, 2, 3, 4]
    assert "label" not in test.columns
    assert list(submission.columns) == ["id", "label"] and list(submission.id) == list(test.id)
    assert list(solution.id) == list(test.id)
    # stratified: every fold holds every digit
    assert train.groupby("fold").label.nunique().min() == 10


def test_missing_data_dir_says_what_is_expected(small_config, tmp_path):
    cfg = small_config("boneage.cfg_baseline", ["--data_dir", str(tmp_path / "missing")])
    with pytest.raises(SkpError, match=r"(?s)not found.*'bone_age'.*--data_dir"):
        resolve("datasets", "simple2d")(cfg, "train")


def test_missing_column_is_named(small_config, boneage_dir, tmp_path):
    folder = tmp_path / "boneage"
    shutil.copytree(boneage_dir, folder)
    frame = pd.read_csv(folder / "train_kfold.csv").drop(columns=["male"])
    frame.to_csv(folder / "train_kfold.csv", index=False)
    cfg = small_config("boneage.cfg_baseline", ["--data_dir", str(folder)])
    with pytest.raises(SkpError, match=r"lacks column\(s\) \['male'\]"):
        resolve("datasets", "simple2d")(cfg, "train")


def test_corrupt_image_is_named(small_config, boneage_dir, tmp_path):
    folder = tmp_path / "boneage"
    shutil.copytree(boneage_dir, folder)
    (folder / "images/0.png").write_bytes(b"not a png")
    cfg = small_config("boneage.cfg_baseline", ["--data_dir", str(folder)])
    dataset = resolve("datasets", "simple2d")(cfg, "val")  # fold 0 holds image 0
    with pytest.raises(SkpError, match="images/0.png"):
        dataset[dataset.ids.index(1000)]


def test_unknown_fold_lists_folds(small_config):
    cfg = small_config("digits.cfg_baseline", ["--fold", "7"])
    with pytest.raises(SkpError, match=r"Fold 7 has no rows.*\[0, 1, 2, 3, 4\]"):
        resolve("datasets", "simple2d")(cfg, "val")


def test_cached_images_match_and_stay_private(small_config):
    from skp.toolbox.images import read_image, read_image_cached

    cfg = small_config("digits.cfg_baseline")
    path = str(resolve("datasets", "simple2d")(cfg, "val").paths[0])
    first = read_image_cached(path, 1)
    assert (first == read_image(path, 1)).all()
    first[:] = 0  # a caller's change never reaches the cache
    assert (read_image_cached(path, 1) == read_image(path, 1)).all()
