import copy
from pathlib import Path

import pytest
import yaml

from reconstudy.config import ConfigError, load_sheet, validate
from reconstudy.paths import bids, format_r
from reconstudy.seeding import derive_seed

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "workflow" / "schemas"
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_default_config_is_valid_and_gains_defaults():
    config = copy.deepcopy(DEFAULT)
    del config["metrics"]
    validate(config, SCHEMAS / "config.schema.yaml", "config")
    assert config["metrics"] == {"normalise": "none"}


def test_every_error_is_listed():
    config = copy.deepcopy(DEFAULT)
    config["recon"]["methods"] = ["zf", "magic"]
    config["sampling"]["accelerations"] = [0]
    with pytest.raises(ConfigError) as err:
        validate(config, SCHEMAS / "config.schema.yaml", "config")
    assert "recon.methods[1]: 'magic' is not allowed" in str(err.value)
    assert "sampling.accelerations[0]: 0 is too small" in str(err.value)


def test_default_sheet_loads():
    sheet = load_sheet(REPO / "config" / "subjects.tsv", SCHEMAS / "subjects.schema.yaml", ["T1w"], True)
    assert list(sheet.index) == ["01", "02", "03", "04", "05", "06"]
    assert set(sheet["group"]) == {"control", "impaired", "ms"}


def test_missing_sheet(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_sheet(tmp_path / "none.tsv", SCHEMAS / "subjects.schema.yaml", ["T1w"], True)


def test_paths_and_seeds():
    assert bids("results", "01", "T1w", datatype="anat", acq="R8", rec="cs", part=None) == (
        "results/sub-01/anat/sub-01_acq-R8_rec-cs_T1w.nii.gz"
    )
    assert format_r(4.0) == "4" and format_r(2.5) == "2.5"
    assert bids("r", "01", "T1w", datatype="anat", acq=f"R{format_r(2.5)}", rec="dl_sr") == (
        "r/sub-01/anat/sub-01_acq-R2p5_rec-dlsr_T1w.nii.gz"
    )
    assert bids("r", "01", "T1w", datatype="anat", acq="R{R}") == "r/sub-01/anat/sub-01_acq-R{R}_T1w.nii.gz"
    with pytest.raises(ValueError, match="BIDS label"):
        bids("r", "01", "T1w", datatype="anat", rec="_")
    assert derive_seed(1, "mask", "01", 4) == derive_seed(1, "mask", "01", 4.0)
    assert derive_seed(1, "mask", "01", 4) != derive_seed(1, "mask", "02", 4)
