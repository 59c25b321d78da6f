"""Rating ingest: every malformed row listed in one error, un-blinding with the key."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from reconstudy.cli import main as cli_main
from reconstudy.readers.ratings import read_key, read_ratings, unblind

CRITERIA = ["overall_quality", "clinical_value"]
KEY = pd.DataFrame(
    {
        "case": ["case-aa01", "case-bb02", "case-cc03"],
        "subject": ["sub-01", "sub-01", "sub-02"],
        "method": ["CS", "DL", "CS"],
        "R": [4, 8, 4],
        "label": ["CS R=4", "DL R=8", "CS R=4"],
        "order": [1, 2, 3],
    }
)


def _complete(reader="R1"):
    return [
        (reader, case, crit, 1 + (n + k) % 5)
        for n, case in enumerate(KEY.case)
        for k, crit in enumerate(CRITERIA)
    ]


def _write(path, rows, header="reader,case,criterion,score"):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_valid_ratings_from_several_files_unblind(tmp_path):
    files = [_write(tmp_path / "r1.csv", _complete("R1")), _write(tmp_path / "r2.csv", _complete("R2"))]
    ratings = read_ratings(files, key=KEY, criteria=CRITERIA)
    assert len(ratings) == 12 and ratings["score"].dtype.kind == "i"
    table = unblind(ratings, KEY)
    assert list(table.columns[:7]) == ["subject", "method", "R", "label", "reader", "criterion", "score"]
    row = table[
        (table.reader == "R2") & (table.case == "case-bb02") & (table.criterion == "clinical_value")
    ].iloc[0]
    assert (row.subject, row.method, row.R, row.score) == ("sub-01", "DL", 8, 1 + (1 + 1) % 5)
    assert table["case"].tolist()[:4] == ["case-aa01"] * 4  # reading order of the key


def test_every_problem_listed_with_line_numbers(tmp_path):
    rows = _complete("R1")
    rows[0] = ("R1", "case-aa01", "overall_quality", 7)  # line 2: out of range
    rows[1] = ("R1", "case-aa01", "clinical_value", "3.5")  # line 3: not an integer
    rows[2] = ("R1", "case-zz99", "overall_quality", 3)  # line 4: unknown case (and so bb02 is missing)
    rows[3] = ("R1", "case-bb02", "sharpness", 3)  # line 5: unknown criterion
    rows.append(("R1", "case-cc03", "clinical_value", 2))  # line 8: duplicate of line 7
    rows.append(("", "case-cc03", "overall_quality", 2))  # line 9: empty reader
    path = _write(tmp_path / "bad.csv", rows)
    with pytest.raises(ValueError) as info:
        read_ratings(path, key=KEY, criteria=CRITERIA)
    message = str(info.value)
    for expected in (
        f"{path}:2: score '7'",
        f"{path}:3: score '3.5'",
        f"{path}:4: case 'case-zz99'",
        f"{path}:5: criterion 'sharpness'",
        f"{path}:9: empty reader",
        "whole numbers 1-5",
        "delete all but",
        f"{path}:7 (score",
        f"{path}:8 (score",
        "reader R1: 2 score(s) missing",
        "case-bb02",
        "reopen the form",
    ):
        assert expected in message, expected


def test_reader_missing_cases_listed(tmp_path):
    rows = [r for r in _complete("R2") if r[1] != "case-cc03"] + _complete("R1")
    with pytest.raises(ValueError, match=r"reader R2: 2 score\(s\) missing over 1 case\(s\): case-cc03"):
        read_ratings(_write(tmp_path / "m.csv", rows), key=KEY, criteria=CRITERIA)


def test_header_and_file_errors(tmp_path):
    with pytest.raises(ValueError, match="header must be reader,case,criterion,score"):
        read_ratings(
            _write(tmp_path / "h.csv", _complete(), "reader,case,item,score"), key=KEY, criteria=CRITERIA
        )
    with pytest.raises(FileNotFoundError, match="no such ratings file"):
        read_ratings(tmp_path / "absent.csv", key=KEY, criteria=CRITERIA)
    with pytest.raises(FileNotFoundError, match="key"):
        read_key(tmp_path / "absent_key.tsv")


def test_key_file_with_sidecar_and_cli_ingest(tmp_path, capsys):
    key_path = tmp_path / "packet_key.tsv"
    KEY.to_csv(key_path, sep="\t", index=False)
    key_path.with_suffix(".json").write_text(
        json.dumps({"criteria": [{"id": c, "label": c} for c in CRITERIA]})
    )
    ratings_path = _write(tmp_path / "r1.csv", _complete("R1"))
    assert len(read_ratings(ratings_path, key=key_path)) == 6  # criteria from the sidecar
    out = tmp_path / "unblinded.tsv"
    assert cli_main(["reading", "ingest", str(ratings_path), "--key", str(key_path), "--out", str(out)]) == 0
    table = pd.read_csv(out, sep="\t")
    assert len(table) == 6 and set(table.method) == {"CS", "DL"}
    bad = _write(tmp_path / "bad.csv", _complete("R1")[:-1])
    assert (
        cli_main(["reading", "ingest", str(bad), "--key", str(key_path), "--out", str(tmp_path / "x.tsv")])
        == 1
    )
    assert "missing" in capsys.readouterr().err and not (tmp_path / "x.tsv").exists()
