import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run_snakemake(workdir, *args, timeout=900, check=True):
    """Run the project's workflow in ``workdir``; return the completed process."""
    command = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (development data only)")
    return SHARED_DATA


@pytest.fixture
def workdir(tmp_path):
    """An empty working directory for a workflow run, with a copy of the test sheets."""
    shutil.copytree(REPO / "tests" / "configs", tmp_path / "tests" / "configs")
    return tmp_path
