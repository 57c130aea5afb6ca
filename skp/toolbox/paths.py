"""Where data live: from an environment variable, never a machine path in a config."""

import os
from pathlib import Path


def data_path(project: str) -> str:
    """`$SKP_DATA_DIR/<project>`, or `./data/<project>` under the working directory."""
    return str(Path(os.environ.get("SKP_DATA_DIR", "data")) / project)
