"""skp: project commands (training, tuning and blending are skp-train, skp-tune, skp-ensemble).

    skp init boneage --num-classes 5       # configs/, ensembles/ and data/ for a new project
    skp configs                            # every config name, by root
    skp prepare fashion.cfg_baseline       # write a config's data folder now (else on first use)
    skp migrate boneage.cfg_old [--write]  # a seed-toolkit config in skp's names: the diff, or the file
"""

from __future__ import annotations

import argparse
import sys

from skp.errors import SkpError, exit_status
from skp.files import write_text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skp", description=__doc__.split("\n")[0].partition(": ")[2], allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="start a project in the working directory")
    init.add_argument("name", help="project name: configs/NAME, ensembles/NAME, data/NAME")
    init.add_argument("--num-classes", type=int, default=2, help="classes of the label column (default 2)")
    init.add_argument("--image-size", type=int, default=224, help="side the images are resized to (default 224)")
    commands.add_parser("configs", help="list the config names skp-train and skp-tune accept, by root")
    prepare = commands.add_parser("prepare", help="write the data folder of a config that prepares its data (digits, fashion)")
    prepare.add_argument("config", help="project.cfg_name or a config file's path")
    prepare.add_argument("overrides", nargs=argparse.REMAINDER, help="--attribute VALUE, e.g. --fashion_source PATH --data_dir PATH")
    migrate = commands.add_parser("migrate", help="rewrite a seed-toolkit config in skp's names (prints the diff)")
    migrate.add_argument("config", help="project.cfg_name or a config file's path")
    migrate.add_argument("--write", action="store_true", help="write the migrated config over the file (the original is kept beside it as NAME.py.seed)")
    return parser


def run_init(args) -> None:
    from skp.starter import init_project

    written = init_project(args.name, args.num_classes, args.image_size)
    print("skp init: wrote " + ", ".join(map(str, written)))
    print(f"Put the images and train.csv in data/{args.name} (its README.md says how), then: skp-train {args.name}.cfg_baseline --kfold 0")


def run_configs() -> None:
    from skp.configs.lookup import PACKAGE_ROOT, configs_by_root

    for root, names in configs_by_root().items():
        print(f"{'skp examples' if root == PACKAGE_ROOT else root}: {', '.join(names) or '(none)'}")


def run_prepare(args) -> None:
    from skp.configs import load_config
    from skp.configs.overrides import parse_override_tokens

    cfg = load_config(args.config, parse_override_tokens(args.overrides))
    if cfg.prepare_data is None:
        raise SkpError(f"{cfg.config_name} has no cfg.prepare_data: its data folder {cfg.data_dir} is yours to fill.")
    print(f"skp prepare: {cfg.prepare_data(cfg)} is ready")


def run_migrate(args) -> None:
    from skp.configs.lookup import locate
    from skp.configs.migrate import migrate_file

    path = locate(args.config).file
    migration = migrate_file(path)
    if not migration.changes and not migration.by_hand:
        print(f"skp migrate: {path} uses no seed-toolkit names; nothing to change.")
        return
    print(migration.diff(str(path)), end="")
    for change in migration.changes:
        print(f"skp migrate: {change}")
    for problem in migration.by_hand:
        print(f"skp migrate: by hand: {problem}")
    if args.write and migration.changes:
        backup = path.with_name(path.name + ".seed")
        write_text(backup, migration.source)
        write_text(path, migration.migrated)
        print(f"skp migrate: wrote {path} (the original is {backup})")
    elif migration.changes:
        print("skp migrate: nothing written; --write applies it.")


COMMANDS = {"init": run_init, "prepare": run_prepare, "migrate": run_migrate, "configs": lambda args: run_configs()}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return exit_status(f"skp {args.command}", lambda: COMMANDS[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
