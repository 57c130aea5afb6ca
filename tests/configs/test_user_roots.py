"""Configs and components that live in the user's repository, outside the skp package."""

import textwrap
from pathlib import Path

import pytest
import torch

from skp.configs import list_configs, load_config
from skp.errors import SkpError
from skp.registry import resolve
from skp.training.runs import run_dir


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A user repository: ./configs/comp/cfg_base.py inherits from skp's digits example."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SKP_CONFIGS_DIR", raising=False)
    write(tmp_path / "configs/comp/cfg_base.py", """
        from skp.configs import load_config
        cfg = load_config("digits.cfg_baseline", [("dropout", 0.3)])
        cfg.num_epochs = 3
    """)
    write(tmp_path / "configs/comp/cfg_child.py", """
        from skp.configs import load_config
        cfg = load_config("comp.cfg_base")
        cfg.batch_size = 16
    """)
    return tmp_path


def test_a_name_finds_the_working_directorys_configs_and_inherits_across_roots(project):
    cfg = load_config("comp.cfg_child")
    assert (cfg.config_name, cfg.project) == ("comp.cfg_child", "comp")
    assert (cfg.batch_size, cfg.num_epochs, cfg.dropout, cfg.backbone) == (16, 3, 0.3, "resnet10t")
    names = [Path(f).name for f in cfg.config_sources]
    assert names == ["cfg_child.py", "cfg_base.py", "cfg_baseline.py"]  # the fingerprint covers all three
    assert "comp.cfg_base" in list_configs() and "digits.cfg_baseline" in list_configs()


def test_a_path_loads_from_anywhere_and_keeps_a_readable_run_directory(project, tmp_path_factory):
    elsewhere = write(tmp_path_factory.mktemp("other") / "exp7" / "cfg_try.py", """
        from skp.configs import load_config
        cfg = load_config("comp.cfg_base")
    """)
    cfg = load_config(str(elsewhere))
    assert cfg.config_name == str(elsewhere.resolve())  # outside every root: reloaded by its path
    assert run_dir(cfg, "r1").parts[-3:] == ("exp7", "cfg_try", "r1")
    inside = load_config("configs/comp/cfg_base.py")
    assert inside.config_name == "comp.cfg_base"  # a path inside a root gets the root's name


def test_skp_configs_dir_comes_before_the_working_directory(project, tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("team")
    write(root / "comp/cfg_base.py", """
        from skp.configs import load_config
        cfg = load_config("digits.cfg_baseline")
        cfg.num_epochs = 7
    """)
    monkeypatch.setenv("SKP_CONFIGS_DIR", str(root))
    assert load_config("comp.cfg_base").num_epochs == 7


def test_an_unknown_name_lists_every_root(project):
    with pytest.raises(SkpError) as err:
        load_config("comp.cfg_nope")
    message = str(err.value)
    assert str(project / "configs") in message and "comp.cfg_base" in message
    assert "skp's examples: " in message and "digits.cfg_baseline" in message
    with pytest.raises(SkpError, match="No config file"):
        load_config("configs/comp/missing.py")


def test_a_broken_user_config_names_its_file_and_line(project):
    write(project / "configs/comp/cfg_bad.py", """
        from skp.configs import Config
        cfg = Config()
        cfg.lr = 1 / 0
    """)
    with pytest.raises(SkpError, match=r"cfg_bad.py, line 4: ZeroDivisionError"):
        load_config("comp.cfg_bad")


MODEL = """
    import torch
    from skp.models.classification.net2d import Net as Base

    class Net(Base):
        def forward(self, batch):
            out = super().forward(batch)
            out["logits"] = out["logits"] * 0.5
            return out
"""

LOSS = """
    import torch

    class HalfCE(torch.nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.ce = torch.nn.CrossEntropyLoss()

        def forward(self, out, batch):
            loss = 0.5 * self.ce(out["logits"], batch["y"].long().view(-1))
            return {"loss": loss, "ce_loss": loss}
"""


def test_user_components_by_file_and_by_import_path(project):
    write(project / "configs/comp/mynet.py", MODEL)  # relative to the config's folder
    write(project / "mycomp/__init__.py", "")
    write(project / "mycomp/losses.py", LOSS)
    write(project / "configs/comp/cfg_own.py", """
        from skp.configs import load_config
        cfg = load_config("comp.cfg_base")
        cfg.model = "mynet.py"
        cfg.loss = "mycomp.losses.HalfCE"
    """)
    cfg = load_config("comp.cfg_own")
    assert cfg.model == str(project / "configs/comp/mynet.py")  # absolute: any worker finds it
    net = resolve("models", cfg.model)(cfg)
    batch = {"x": torch.rand(2, 1, 32, 32), "y": torch.tensor([1, 2])}
    out = net(batch)
    assert out["logits"].shape == (2, 10)
    losses = resolve("losses", cfg.loss)(cfg)(out, batch)
    assert set(losses) == {"loss", "ce_loss"}
    assert resolve("losses", str(project / "mycomp/losses.py") + ":HalfCE").__name__ == "HalfCE"


def test_user_component_errors_say_what_to_write(project):
    with pytest.raises(SkpError, match=r"A component of your own: a module path .*holding class Net"):
        resolve("models", "nopkg.models.thing")
    write(project / "lib.py", "class Other: pass\n")
    with pytest.raises(SkpError, match="has no class Net .* its classes: Other"):
        resolve("models", "lib.py")
    with pytest.raises(SkpError, match="must name its class after the file"):
        resolve("losses", "lib.py")
    with pytest.raises(SkpError, match="does not exist"):
        resolve("models", "nothere.py")
    write(project / "needs.py", "import not_installed_pkg_xyz\nclass Net: pass\n")
    with pytest.raises(SkpError, match="failed to load: ModuleNotFoundError"):
        resolve("models", "needs.py")
