import os
from pathlib import Path

import pytest


@pytest.fixture
def write_recipe():
    """Write ensembles/<project>/<name>.py under the test's $SKP_ENSEMBLES_DIR."""

    def write(project, name, text):
        folder = Path(os.environ["SKP_ENSEMBLES_DIR"]) / project
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.py").write_text(text)
        return folder / name

    return write
