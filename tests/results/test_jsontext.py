"""The store's JSON text is standard JSON, and non-finite floats read back as written."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from merbench.results.jsontext import dump_json, load_json


def _strict(text: str) -> object:
    def refuse(token: str) -> object:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_are_written_as_standard_json_and_read_back():
    value = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": np.float32("nan"), "d": None}
    text = dump_json(value)
    _strict(text)  # PostgreSQL's json type takes it
    back = load_json(text)
    assert math.isnan(back["a"]) and math.isnan(back["c"]) and back["d"] is None
    assert back["b"] == [math.inf, -math.inf, 1.5]


@pytest.mark.parametrize(
    "value",
    [
        {"name": "NaN", "kind": "inf"},
        {"$float": "not a number"},
        {"$float": "nan", "other": 1},
        [{"$float": 1}],
    ],
)
def test_strings_and_look_alike_objects_are_kept_as_they_are(value):
    assert load_json(dump_json(value)) == value


def test_numpy_values_and_tuples_are_stored_as_plain_values():
    back = load_json(dump_json({"x": np.array([[1, 2], [3, 4]]), "y": (np.int64(3), "t")}))
    assert back == {"x": [[1, 2], [3, 4]], "y": [3, "t"]}
    assert type(back["y"][0]) is int


def test_bare_tokens_of_older_stores_are_still_read():
    back = load_json('{"r2": NaN, "hi": Infinity, "lo": -Infinity}')
    assert math.isnan(back["r2"]) and back["hi"] == math.inf and back["lo"] == -math.inf
