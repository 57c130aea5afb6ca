"""Where data and runs live, from environment variables, never machine paths in configs."""

import os
from pathlib import Path


def data_path(project: str) -> str:
    """`$SKP_DATA_DIR/<project>`, or `./data/<project>` under the working directory."""
    return str(Path(os.environ.get("SKP_DATA_DIR", "data")) / project)


def save_root(cfg) -> Path:
    """Root of run directories: cfg.save_dir, else $SKP_SAVE_DIR, else ./experiments."""
    return Path(cfg.save_dir or os.environ.get("SKP_SAVE_DIR", "experiments"))
