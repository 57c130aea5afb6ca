import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_dirs(tmp_path_factory):
    """Every test writes data and runs under a private temporary tree."""
    root = tmp_path_factory.mktemp("skp")
    previous = {k: os.environ.get(k) for k in ("SKP_DATA_DIR", "SKP_SAVE_DIR", "SKP_STUDIES_DIR", "SKP_ENSEMBLES_DIR")}
    os.environ["SKP_DATA_DIR"] = str(root / "data")
    os.environ["SKP_SAVE_DIR"] = str(root / "experiments")
    os.environ["SKP_STUDIES_DIR"] = str(root / "studies")
    os.environ["SKP_ENSEMBLES_DIR"] = str(root / "ensembles")
    yield root
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session", autouse=True)
def nothing_written_into_the_package():
    """skp-tune never exports a tuned config into skp's own configs: they are not the user's."""
    from skp.configs import CONFIGS_DIR

    before = set(CONFIGS_DIR.rglob("*.py"))
    yield
    written = set(CONFIGS_DIR.rglob("*.py")) - before
    for path in written:
        path.unlink()
    assert not written, f"tests wrote into skp's configs: {sorted(map(str, written))}"


@pytest.fixture(scope="session")
def boneage_dir(tmp_path_factory) -> Path:
    """A small stand-in for the RSNA bone age folder: a bright bar whose length is the age."""
    folder = tmp_path_factory.mktemp("boneage")
    (folder / "images").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        age = float(rng.integers(12, 220))
        image = rng.normal(40, 10, (48, 40)).clip(0, 255).astype(np.uint8)
        image[8 : 8 + int(age / 220 * 36), 15:25] = 220
        cv2.imwrite(str(folder / f"images/{i}.png"), image)
        rows.append({"pid": 1000 + i, "filename": f"images/{i}.png", "bone_age": age, "male": i % 2, "fold": i % 4})
    frame = pd.DataFrame(rows)
    frame.to_csv(folder / "train_kfold.csv", index=False)
    frame[["pid", "filename", "male"]].iloc[:8].to_csv(folder / "test.csv", index=False)
    return folder


# Overrides that make any shipped config build and train in seconds on a CPU.
SMALL = ["--pretrained", "False", "--image_height", "32", "--image_width", "32", "--batch_size", "8", "--num_workers", "0"]


@pytest.fixture
def small_config(boneage_dir):
    """load_config(name) shrunk for tests; boneage reads the stand-in folder."""
    from skp.configs import load_config

    def load(name, extra=()):
        overrides = list(SMALL)
        if name.startswith("boneage."):
            overrides += ["--data_dir", str(boneage_dir)]
        overrides += list(extra)
        cfg = load_config(name, overrides)
        if cfg.prepare_data is not None:
            cfg.prepare_data(cfg)
        return cfg

    return load
