"""The reconstudy command line: help texts and clear errors."""

import pytest

from reconstudy.cli import main

COMMANDS = ["convert", "mask", "predict", "qsm", "reading", "recon", "segment", "train-dl", "train-seg"]


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert f"    {command}" in out


def test_convert_help_describes_formats(capsys):
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    out = capsys.readouterr().out
    for word in ("ISMRMRD", "fastMRI", "twix", "BART", "INPUT", "OUTPUT"):
        assert word in out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "commands" in capsys.readouterr().out
