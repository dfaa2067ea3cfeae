"""Error messages: suggestions and sentence endings read cleanly."""

from __future__ import annotations

import pytest

from merbench.errors import did_you_mean, end_sentence


def test_did_you_mean_is_one_sentence_or_nothing():
    assert did_you_mean("handcraft", ["handcrafted", "mel"]) == " Did you mean 'handcrafted'?"
    assert did_you_mean("zzz", ["handcrafted", "mel"]) == ""


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (
            f"unknown front-end 'handcraft'.{did_you_mean('handcraft', ['handcrafted'])}",
            "unknown front-end 'handcraft'. Did you mean 'handcrafted'?",
        ),
        ("unknown front-end 'zzz'.", "unknown front-end 'zzz'."),
        (
            "front-end 'mel' gives spectrogram but model 'ridge' expects vector there",
            "front-end 'mel' gives spectrogram but model 'ridge' expects vector there.",
        ),
    ],
    ids=["suggestion", "full-stop", "bare"],
)
def test_a_reason_ends_in_exactly_one_mark(reason, expected):
    assert end_sentence(reason) == expected
    assert not any(p in end_sentence(reason) for p in ("?.", ".."))
