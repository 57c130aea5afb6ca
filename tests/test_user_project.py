"""A competition kept in the user's own repository, with skp installed as a library.

skp is installed without -e (pip builds and copies it, as `pip install skp` would) into
a folder of its own, and every command runs from a directory outside the checkout: a
config, a model file and a recipe of the user's train, tune and blend, the tuned config
lands beside the user's config, and nothing is written into the installed package.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
TINY = ["--num_epochs", "1", "--enable_progress_bar", "False"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """skp copied into its own site folder by `pip install --target` (no -e); its
    dependencies come from this environment rather than being downloaded again."""
    source = tmp_path_factory.mktemp("source") / "skp"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "experiments", "studies", "data", "*.egg-info", "__pycache__", ".pytest_cache"))
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(source)],
        check=True,
    )
    return site


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def write_images(folder: Path) -> None:
    """60 training and 12 test images of 3 classes (which colour channel is lit)."""
    rng = np.random.default_rng(0)
    rows = {"train": [], "test": []}
    for i in range(72):
        label, split = i % 3, "train" if i < 60 else "test"
        image = rng.integers(0, 60, (40, 40, 3), dtype=np.uint8)
        image[:, :, label] += 150
        (folder / "images").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / "images" / f"{i}.png"), image)
        rows[split].append({"id": i, "filename": f"images/{i}.png", "label": label, "fold": i % 5})
    pd.DataFrame(rows["train"]).to_csv(folder / "train.csv", index=False)
    test = pd.DataFrame(rows["test"])
    test[["id", "filename"]].to_csv(folder / "test.csv", index=False)
    test[["id"]].assign(**{str(k): 0.0 for k in range(3)}).to_csv(folder / "sample_submission.csv", index=False)


def test_a_user_repository_trains_tunes_and_blends_from_an_installed_skp(installed, tmp_path):
    project = tmp_path / "kaggle-comp"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKP_")}
    env.update(PYTHONPATH=str(installed), CUDA_VISIBLE_DEVICES="")

    def skp(*args):
        done = subprocess.run([sys.executable, "-c", f"import sys; from {args[0]} import main; sys.exit(main())", *args[1:]],
                              cwd=project, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    where = subprocess.run([sys.executable, "-c", "import skp; print(skp.__file__)"], cwd=project, env=env, capture_output=True, text=True)
    assert where.stdout.strip() == str(installed / "skp" / "__init__.py")  # the installed copy, not the checkout
    package_files = files_under(installed)

    skp("skp.cli", "init", "comp", "--num-classes", "3", "--image-size", "32")
    write_images(project / "data" / "comp")
    write(project / "models" / "mynet.py", """
        from skp.models.classification.net2d import Net as Backbone

        class Net(Backbone):
            \"\"\"The user's own model: skp's CNN with its logits halved.\"\"\"

            def forward(self, batch):
                out = super().forward(batch)
                return {"logits": out["logits"] * 0.5}
    """)
    write(project / "configs" / "comp" / "cfg_mine.py", """
        from skp.configs import load_config
        from skp.tune.space import Float

        cfg = load_config("comp.cfg_baseline", [("backbone", "resnet10t")])
        cfg.model = "models/mynet.py"
        cfg.search_space = {"optimizer_params.lr": Float(1e-4, 1e-2, log=True)}
    """)
    write(project / "ensembles" / "comp" / "ens_mine.py", """
        from skp.ensemble import Recipe, Run

        recipe = Recipe(members=[Run("configs/comp/cfg_mine.py", run_id="r")], folds=[0, 1], blend="mean")
    """)

    skp("skp.train", "comp.cfg_baseline", *TINY)  # the starter config trains as written
    skp("skp.train", "configs/comp/cfg_mine.py", "--kfold", "0,1", "--run_id", "r", *TINY)
    assert (project / "experiments" / "comp" / "cfg_mine" / "r" / "fold1" / "best.pt").is_file()

    out = skp("skp.tune.cli", "comp.cfg_mine", "--trials", "2", "--pruner", "none", *TINY)
    tuned = project / "configs" / "comp" / "cfg_mine_tuned.py"
    assert f"best config: {tuned} (a copy in" in " ".join(out.split())
    assert (project / "studies" / "comp.cfg_mine" / "cfg_mine_tuned.py").is_file()
    assert "load_config(\n    'comp.cfg_mine'," in tuned.read_text()

    skp("skp.ensemble.cli", "ensembles/comp/ens_mine.py")
    submission = pd.read_csv(project / "ensembles" / "comp" / "ens_mine" / "submission.csv")
    assert list(submission.columns) == ["id", "0", "1", "2"] and len(submission) == 12

    assert files_under(installed) == package_files  # nothing written into the installed package
