"""Configs written in the seed toolkit's conventions."""

import textwrap

import pytest

from skp.configs import load_config
from skp.errors import SkpError
from skp.training.folds import check_config, train_folds

SEED_STYLE = """
    import albumentations as A
    from skp.configs import Config
    from skp.toolbox.paths import data_path
    from skp.toolbox.prepare_digits import prepare_digits

    cfg = Config()
    cfg.task = "classification"
    cfg.model = "classification.net2d"
    cfg.backbone = "resnet10t"
    cfg.pretrained = False
    cfg.num_input_channels = 1
    cfg.num_classes = 10
    cfg.dataset = "simple2d"
    cfg.data_dir = data_path("digits")
    cfg.prepare_data = prepare_digits
    cfg.annotations_file = "train.csv"
    cfg.id_column = "id"
    cfg.inputs = "filename"
    cfg.targets = ["label"]
    # no fold_column: the seed's "fold" is the default
    cfg.image_height = 32
    cfg.image_width = 32
    # the seed's way: transforms built once, as plain values
    cfg.train_transforms = A.Compose([A.Resize(cfg.image_height, cfg.image_width)])
    cfg.val_transforms = A.Compose([A.Resize(cfg.image_height, cfg.image_width)])
    cfg.loss = "classification.CrossEntropyLoss"
    cfg.metrics = ["classification.Accuracy"]
    cfg.val_metric = "accuracy"
    cfg.val_track = "max"
    cfg.batch_size = 64
    cfg.num_epochs = 1
    cfg.num_workers = 0
    cfg.optimizer = "adamw"
    cfg.optimizer_params = {"lr": 3e-3, "weight_decay": 1e-2}
    cfg.scheduler = "LinearWarmupCosineAnnealingLR"
    cfg.scheduler_params = {"warmup": 0.1}
    cfg.scheduler_interval = "step"
"""


@pytest.fixture
def seed_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs/seedstyle").mkdir(parents=True)
    (tmp_path / "configs/seedstyle/cfg_baseline.py").write_text(textwrap.dedent(SEED_STYLE))
    return tmp_path


def test_every_seed_name_is_reported_in_one_message(seed_project):
    cfg = load_config("seedstyle.cfg_baseline")
    cfg.model = "classification.net2d_var_embed"
    cfg.metrics = ["classification.MAE"]
    cfg.val_metric = "mae_mean"
    cfg.num_iterations_per_epoch = 1000
    cfg.scheduler_params = {"pct_start": 0.1, "div_factor": 25, "final_div_factor": 1e4}
    with pytest.raises(SkpError) as err:
        check_config(cfg)
    message = str(err.value)
    for expected in ("'classification.net2d_var_embed' -> classification.net2d with cfg.metadata_embeddings",
                     "'classification.MAE' -> 'regression.MAE'", "'mae_mean' -> 'mae'",
                     "cfg.num_iterations_per_epoch -> cfg.sampler = 'IterationBasedSampler'",
                     "'pct_start' -> scheduler_params warmup", "'final_div_factor' -> scheduler_params eta_min_ratio"):
        assert expected in message


@pytest.mark.slow
def test_a_seed_style_config_trains_and_warns_when_an_override_cannot_reach_its_transforms(seed_project, capsys, tmp_path):
    results = train_folds("seedstyle.cfg_baseline", ["--image_height", "24", "--save_dir", str(tmp_path / "runs")],
                          trainer_kwargs={"limit_train_batches": 4, "enable_progress_bar": False})
    assert 0 <= results[0]["best_value"] <= 1
    assert list((tmp_path / "runs" / "seedstyle" / "cfg_baseline").glob("*/fold0/best.pt"))
    assert "--image_height cannot reach cfg.train_transforms and cfg.val_transforms" in capsys.readouterr().err


def forget_module(path):
    import sys

    from skp.configs.lookup import _module_name

    sys.modules.pop(_module_name(path.resolve()), None)


SEED_NAMES = SEED_STYLE.replace('    cfg.pretrained = False\n', '    cfg.load_pretrained = False\n').replace(
    '    cfg.scheduler_params = {"warmup": 0.1}\n',
    '    cfg.scheduler_params = {"pct_start": 0.1, "div_factor": 25, "final_div_factor": 4}\n    cfg.num_iterations_per_epoch = 3\n',
)


def test_migrate_translates_every_seed_name_and_writes_only_when_asked(seed_project, capsys):
    from skp.cli import main as skp_main

    path = seed_project / "configs/seedstyle/cfg_baseline.py"
    path.write_text(textwrap.dedent(SEED_NAMES))
    with pytest.raises(SkpError, match="seed toolkit's names"):
        check_config(load_config("seedstyle.cfg_baseline"))
    assert skp_main(["migrate", "seedstyle.cfg_baseline"]) == 0
    printed = capsys.readouterr().out
    assert "+cfg.pretrained = False" in printed and "-cfg.load_pretrained = False" in printed
    assert path.read_text() == textwrap.dedent(SEED_NAMES)  # a diff only, nothing written
    assert skp_main(["migrate", "seedstyle.cfg_baseline", "--write"]) == 0
    assert (path.parent / "cfg_baseline.py.seed").read_text() == textwrap.dedent(SEED_NAMES)
    forget_module(path)  # a config runs once per process; the next command is a new one
    cfg = load_config("seedstyle.cfg_baseline")
    check_config(cfg)  # no seed name left
    assert cfg.pretrained is False and cfg.sampler == "IterationBasedSampler"
    assert cfg.sampler_params == {"num_samples": 3 * 64}
    assert cfg.scheduler_params == {"warmup": 0.1, "eta_min_ratio": pytest.approx(0.01)}
    assert cfg.is_derived("train_transforms") and cfg.is_derived("val_transforms")
    assert load_config("seedstyle.cfg_baseline", [("image_height", "24")]).val_transforms.transforms[0].height == 24
    assert skp_main(["migrate", "seedstyle.cfg_baseline"]) == 0
    assert "uses no seed-toolkit names" in capsys.readouterr().out


def test_migrate_reports_what_it_cannot_translate(seed_project, capsys):
    from skp.cli import main as skp_main

    source = textwrap.dedent(SEED_STYLE) + 'COLUMNS = ["male"]\ncfg.vars = COLUMNS\ncfg.embed_num_classes = [2]\ncfg.embed_dim = 8\n'
    (seed_project / "configs/seedstyle/cfg_baseline.py").write_text(source)
    assert skp_main(["migrate", "seedstyle.cfg_baseline", "--write"]) == 0
    printed = capsys.readouterr().out
    assert "by hand: cfg.vars / cfg.embed_num_classes / cfg.embed_dim" in printed


def test_migrate_turns_embedding_lists_into_metadata_embeddings():
    from skp.configs.migrate import migrate_source

    migration = migrate_source(
        'cfg.model = "classification.net2d_var_embed"\ncfg.vars = ["male", "site"]\ncfg.embed_num_classes = [2, 5]\n'
        'cfg.metrics = ["classification.MAE"]\ncfg.val_metric = "mae_mean"\ncfg.embed_dim = 16\n'
    )
    assert migration.migrated == (
        'cfg.model = "classification.net2d"\ncfg.metadata_embeddings = {\'male\': 2, \'site\': 5}\ncfg.metadata_embedding_dim = 16\n'
        "cfg.metrics = ['regression.MAE']\ncfg.val_metric = 'mae'\n"
    )
    assert not migration.by_hand


@pytest.mark.slow
def test_a_migrated_seed_config_trains(seed_project, tmp_path):
    from skp.cli import main as skp_main

    (seed_project / "configs/seedstyle/cfg_baseline.py").write_text(textwrap.dedent(SEED_NAMES))
    assert skp_main(["migrate", "seedstyle.cfg_baseline", "--write"]) == 0
    forget_module(seed_project / "configs/seedstyle/cfg_baseline.py")
    results = train_folds("seedstyle.cfg_baseline", ["--save_dir", str(tmp_path / "runs")], trainer_kwargs={"enable_progress_bar": False})
    assert results[0]["best_value"] is not None and results[0]["train_samples"] > 0
