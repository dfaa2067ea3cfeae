"""CSV files a spreadsheet opens safely: formula-like text is neutralised, numbers stay numbers."""

from __future__ import annotations

import csv

import pandas as pd
import pytest
from click.testing import CliRunner

from merbench.cli import main
from merbench.csvfiles import neutralise, restore, write_csv
from merbench.exchange.inference import Predictions
from merbench.leaderboard.render import render_site
from tests.helpers.stores import fake_store

FORMULAS = ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x")']


def _rows(path):
    with path.open(newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("text", FORMULAS)
def test_formula_text_gets_a_quote_and_reads_back(text):
    assert neutralise(text) == "'" + text
    assert restore(neutralise(text)) == text


@pytest.mark.parametrize("value", ["ridge@mel", "'quoted", "''=x", "a=b", "", -0.12, 3, None])
def test_other_values_read_back_as_written(value):
    assert restore(neutralise(value)) == value
    if not (isinstance(value, str) and value.startswith("'")):
        assert neutralise(value) == value


def test_write_csv_neutralises_text_cells_only(tmp_path):
    frame = pd.DataFrame(
        {
            "name": ["=cmd|' /C calc'!A0", "-0.12", "ok", None],
            "score": [-0.12, 1.0, float("nan"), 2.0],
            "count": pd.array([-1, None, 3, 4], dtype="Int64"),
        }
    )
    path = tmp_path / "t.csv"
    write_csv(frame, path)
    text = path.read_text()
    # quoted, with the quote in front; numbers as numbers
    assert "\"'=cmd|' /C calc'!A0\",-0.12,-1\n" in text
    assert '"\'-0.12",1.0,' in text
    [header, *rows] = _rows(path)
    assert header == ["name", "score", "count"]
    assert [r[0] for r in rows] == ["'=cmd|' /C calc'!A0", "'-0.12", "ok", ""]
    back = pd.read_csv(path)
    assert back["score"].iloc[0] == -0.12 and back["count"].iloc[0] == -1


def test_results_csv_neutralises_an_external_entry_name(tmp_path):
    url = fake_store(tmp_path / "run", {'=HYPERLINK("http://x","y")': 0.5, "mean": 2.0})
    render_site([url], tmp_path / "site")
    [header, *rows] = _rows(tmp_path / "site" / "results.csv")
    candidates = [r[header.index("candidate")] for r in rows]
    assert '\'=HYPERLINK("http://x","y")' in candidates and "mean" in candidates
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row[:6])


def test_predict_csv_neutralises_file_names(tmp_path, monkeypatch):
    import merbench.exchange.inference as inference

    monkeypatch.setattr(inference, "load_predictor", lambda folder, registry: None)
    monkeypatch.setattr(inference, "audio_files", lambda targets: list(targets))
    monkeypatch.setattr(
        inference,
        "predict_files",
        lambda predictor, files, on_file: Predictions(
            columns=["arousal", "valence"],
            rows=[(str(f), [-0.5, 0.25]) for f in files],
            failed=[],
        ),
    )
    out = tmp_path / "predictions.csv"
    args = ["predict", str(tmp_path), "=1+1.wav", "@x.wav", "ok.wav", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert _rows(out) == [
        ["file", "arousal", "valence"],
        ["'=1+1.wav", "-0.5", "0.25"],
        ["'@x.wav", "-0.5", "0.25"],
        ["ok.wav", "-0.5", "0.25"],
    ]
