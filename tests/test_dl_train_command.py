"""The ``reconstudy train-dl`` command: config validation and the shipped training config."""

from pathlib import Path

import pytest

from reconstudy.cli import build_parser
from reconstudy.commands.train import load_config

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "resources" / "models" / "varnet_t1w.train.yaml"


def test_shipped_training_config_loads():
    config = load_config(SHIPPED)
    assert config["train"].architecture == "VarNet"
    assert config["data"]["test_anatomy"] not in config["data"]["train_anatomies"]
    assert 4 in config["evaluation"]["cs"]["accelerations"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("trainig: {}\n", "unknown top-level key"),
        ("training: {epochz: 3}\n", "unknown training key"),
        ("data: {anatomy: 3}\n", "unknown data key"),
        ("- 1\n- 2\n", "must be a mapping"),
    ],
)
def test_bad_configs_name_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "train.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_missing_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.yaml"):
        load_config(tmp_path / "absent.yaml")


def test_test_anatomy_must_be_held_out(tmp_path, capsys):
    from reconstudy.cli import main

    path = tmp_path / "train.yaml"
    path.write_text("data: {train_anatomies: [1, 2], test_anatomy: 2}\n")
    assert main(["train-dl", "--config", str(path), "--out", str(tmp_path / "m.pt")]) == 1
    assert "also a training anatomy" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()


def test_command_is_registered():
    args = build_parser().parse_args(
        ["train-dl", "--config", "c.yaml", "--out", "m.pt", "--test-anatomy", "1"]
    )
    assert args.test_anatomy == 1 and callable(args.func)
