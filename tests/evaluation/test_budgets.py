"""Budgets: built-in ones, [budgets.<name>] tables in datasets.toml, overrides, stored records."""

from __future__ import annotations

import dataclasses

import pytest

from merbench.data.config import load_budgets
from merbench.errors import ConfigError
from merbench.evaluation.budgets import (
    BUDGET_KEYS,
    BUDGETS,
    budget_from_record,
    budget_record,
    get_budget,
    override,
)
from tests.helpers.config import fails, parse

QUICK = """
[budgets.quick]
base = "default"
trials = 10
epochs = 20

[budgets.quicker]
base = "quick"
epochs = 3
clip_seconds = 2

[datasets.synth]
"""


def test_budget_tables_extend_their_base_in_file_order():
    budgets = parse(QUICK).budgets
    assert list(budgets) == ["quick", "quicker"]
    assert budgets["quick"] == dataclasses.replace(
        BUDGETS["default"], name="quick", trials=10, epochs=20
    )
    quicker = budgets["quicker"]
    assert (quicker.trials, quicker.epochs, quicker.clip_seconds) == (10, 3, 2.0)
    assert isinstance(quicker.clip_seconds, float)
    assert parse("[budgets.mini]\ntrials = 2\n[datasets.synth]\n").budgets["mini"].epochs == 6


def test_get_budget_looks_in_the_configured_ones():
    budgets = parse(QUICK).budgets
    assert get_budget("quick", budgets).trials == 10
    assert get_budget("full", budgets) is BUDGETS["full"]
    with pytest.raises(ConfigError) as error:
        get_budget("quik", budgets)
    assert str(error.value) == (
        "Unknown budget 'quik'. Did you mean 'quick'? Choose one of: smoke, default, full, "
        "quick, quicker, or declare it as a [budgets.quik] table in datasets.toml."
    )


def test_budget_tables_report_one_line_errors():
    fails(
        "[budgets.quick]\ntrails = 10\n",
        "datasets.toml [budgets.quick]: unknown key 'trails'. Did you mean 'trials'? Allowed "
        f"keys: base, {', '.join(BUDGET_KEYS)}.",
    )
    fails(
        "[budgets.quick]\ntrials = 0\n",
        "datasets.toml [budgets.quick]: 'trials' must be an integer >= 1, got 0. "
        "Example: trials = 4.",
    )
    fails(
        '[budgets.quick]\nepochs = "ten"\n',
        "datasets.toml [budgets.quick]: 'epochs' must be an integer >= 1, got 'ten'. "
        "Example: epochs = 6.",
    )
    fails(
        "[budgets.quick]\nvalid_fraction = 1.5\n",
        "datasets.toml [budgets.quick]: 'valid_fraction' must be a number > 0 and <= 0.9, got "
        "1.5. Example: valid_fraction = 0.2.",
    )
    fails(
        '[budgets.quick]\nbase = "defualt"\n',
        "datasets.toml [budgets.quick]: 'base' must name a built-in budget or one declared "
        "above, got \"defualt\" (a string). Did you mean 'default'? Choose one of: smoke, "
        "default, full.",
    )
    fails(
        "[budgets.default]\ntrials = 8\n",
        "datasets.toml [budgets.default]: 'default' is a built-in budget and cannot be "
        'redefined. Rename the table, e.g. [budgets.my-default], and write base = "default" '
        "in it.",
    )
    fails(
        "[budgets.Quick]\n",
        "datasets.toml [budgets.Quick]: invalid budget name 'Quick'. Did you mean 'quick'? A "
        "name is a lowercase letter followed by up to 31 lowercase letters, digits or '-'. "
        "Rename the table.",
    )
    fails(
        "[budgets]\nquick = 3\n",
        "datasets.toml [budgets.quick]: must be a table, got 3 (an integer). Write a "
        '[budgets.quick] line with the budget\'s keys below it, e.g. base = "default" and '
        "trials = 10.",
    )


def test_load_budgets_skips_the_datasets(tmp_path):
    path = tmp_path / "datasets.toml"
    path.write_text(QUICK + '\n[datasets.pmemo]\npath = "/nowhere"\n', encoding="utf-8")
    assert list(load_budgets(path)) == ["quick", "quicker"]
    with pytest.raises(ConfigError, match="unknown top-level key 'budget'"):
        path.write_text("[budget.quick]\n", encoding="utf-8")
        load_budgets(path)


def test_override_sets_values_by_their_type():
    budget = override(BUDGETS["default"], "trials=10, epochs=20,clip_seconds=4")
    assert (budget.name, budget.trials, budget.epochs) == ("default", 10, 20)
    assert budget.clip_seconds == 4.0 and isinstance(budget.clip_seconds, float)
    assert override(BUDGETS["smoke"], "") == BUDGETS["smoke"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trials", "--set 'trials': 'trials' is not key=value. Write e.g. "
         "--set trials=10,epochs=20."),
        ("trails=3", "--set 'trails=3': unknown budget key 'trails'. Did you mean 'trials'? "
         f"Allowed keys: {', '.join(BUDGET_KEYS)}."),
        ("trials=2.5", "--set 'trials=2.5': 'trials' must be an integer >= 1, got 2.5. "
         "Example: trials = 4."),
        ("outer_folds=1", "--set 'outer_folds=1': 'outer_folds' must be an integer >= 2, got 1. "
         "Example: outer_folds = 5."),
    ],
)  # fmt: skip
def test_override_errors_name_the_option(text, message):
    with pytest.raises(ConfigError) as error:
        override(BUDGETS["default"], text)
    assert str(error.value) == message


def test_a_stored_record_rebuilds_the_budget():
    quick = parse(QUICK).budgets["quicker"]
    assert budget_from_record(budget_record(quick)) == quick
    assert budget_record(BUDGETS["full"])["trials"] == 30
    record = budget_record(quick)
    del record["epochs"]
    with pytest.raises(ConfigError, match="stored run budget: missing epochs"):
        budget_from_record(record)


def test_list_budgets_shows_the_configured_ones(tmp_path):
    import json

    from click.testing import CliRunner

    from merbench.cli import main

    path = tmp_path / "datasets.toml"
    path.write_text(QUICK, encoding="utf-8")
    result = CliRunner().invoke(main, ["list", "budgets", "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert list(rows) == ["smoke", "default", "full", "quick", "quicker"]
    assert rows["quicker"] | {"source": ""} == budget_record(parse(QUICK).budgets["quicker"]) | {
        "source": ""
    }
    assert rows["quicker"]["source"] == str(path) and rows["full"]["source"] == "built-in"
    table = CliRunner().invoke(main, ["list", "budgets", "--config", str(path)])
    assert "quicker" in table.stdout
