"""datasets.toml: parsing, checking against dataset plugins, expansion, and exact messages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from merbench.data.config import (
    PACKAGED_CONFIG,
    DatasetConfig,
    default_config_path,
    load_config,
    parse_config,
)
from merbench.errors import ConfigError
from tests.helpers.config import SPECS, fails, parse

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = "Allowed keys: enabled, max_seconds, on_bad_tracks, options, path, plugin, split, tasks."


# --- valid files --------------------------------------------------------------------------------


def test_minimal_table_takes_every_default():
    config = parse("[datasets.synth]\n")
    assert config.source is None
    assert config.datasets == (
        DatasetConfig(
            name="synth",
            plugin="synth",
            path=None,
            options=config.datasets[0].options,
            enabled=True,
            split="grouped",
            on_bad_tracks="skip",
            tasks=("av-regression",),
            supported_tasks=("av-regression",),
        ),
    )
    assert dict(config.datasets[0].options) == dict(SPECS["synth"].options)


def test_options_merge_with_plugin_defaults():
    config = parse(
        '[datasets.synth]\n[datasets.synth.options]\nn_clips = 12\nkeys = ["A"]\nextra = "x"\n'
    )
    options = config.get("synth").options
    assert dict(options) == {
        "n_clips": 12,
        "noise": 0.5,
        "stereo": False,
        "keys": ("A",),
        "extra": "x",
    }


def test_an_integer_is_accepted_and_converted_where_a_float_is_expected():
    options = parse("[datasets.synth.options]\nnoise = 1\n").get("synth").options
    assert options["noise"] == 1.0
    assert isinstance(options["noise"], float)


def test_options_are_read_only():
    options = parse("[datasets.synth]\n").get("synth").options
    with pytest.raises(TypeError):
        options["n_clips"] = 3  # type: ignore[index]


def test_plugin_defaults_to_the_table_name_and_can_be_set(tmp_path):
    text = f'[datasets.synth]\n[datasets.mine]\nplugin = "folder"\npath = "{tmp_path}"\n'
    config = parse(text)
    assert [(d.name, d.plugin) for d in config.datasets] == [("synth", "synth"), ("mine", "folder")]
    assert config.get("mine").path == tmp_path
    assert config.get("mine").options["labels"] == "labels.csv"


def test_same_plugin_under_two_names():
    config = parse(
        "[datasets.synth-small]\nplugin = 'synth'\n[datasets.synth-small.options]\nn_clips = 10\n"
        "[datasets.synth-big]\nplugin = 'synth'\n[datasets.synth-big.options]\nn_clips = 999\n"
    )
    assert [d.options["n_clips"] for d in config.datasets] == [10, 999]


def test_split_and_bad_track_policy_are_read():
    dataset = parse('[datasets.synth]\nsplit = "official"\non_bad_tracks = "fail"\n').get("synth")
    assert (dataset.split, dataset.on_bad_tracks) == ("official", "fail")


def test_enabled_lists_only_enabled_datasets_in_file_order():
    config = parse(
        "[datasets.b]\nplugin = 'synth'\n[datasets.a]\nplugin = 'synth'\nenabled = false\n"
        "[datasets.c]\nplugin = 'synth'\n"
    )
    assert [d.name for d in config.datasets] == ["b", "a", "c"]
    assert [d.name for d in config.enabled()] == ["b", "c"]


def test_empty_file_declares_nothing():
    assert parse("# nothing yet\n").datasets == ()


def test_get_unknown_dataset_suggests_a_close_name():
    config = parse("[datasets.synth]\n")
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "datasets.toml: no dataset 'synht'. Did you mean 'synth'? Declared: synth. "
            "Add a [datasets.synht] table to declare it."
        ),
    ):
        config.get("synht")


# --- disabled datasets ---------------------------------------------------------------------------


def test_disabled_datasets_skip_plugin_option_and_path_checks():
    config = parse(
        "[datasets.fma]\nenabled = false\npath = '${NOT_SET}/fma'\n"
        "[datasets.fma.options]\nwhatever = 1\n"
        "[datasets.pmemo]\nenabled = false\n"
    )
    fma = config.get("fma")
    assert (fma.enabled, fma.plugin, fma.path, dict(fma.options)) == (
        False,
        "fma",
        None,
        {"whatever": 1},
    )
    assert config.enabled() == ()


def test_disabled_datasets_are_still_checked_for_keys_and_types():
    fails(
        "[datasets.fma]\nenabled = false\npth = 'x'\n",
        "datasets.toml [datasets.fma]: unknown key 'pth'. Did you mean 'path'? " + ALLOWED,
    )
    fails(
        "[datasets.fma]\nenabled = false\nsplit = 'shuffled'\n",
        'datasets.toml [datasets.fma]: \'split\' must be one of "grouped", "random", '
        '"official", got "shuffled" (a string). Example: split = "grouped".',
    )


# --- file-level errors ---------------------------------------------------------------------------


def test_toml_syntax_error_gives_line_and_column():
    fails(
        "[datasets.synth]\nenabled = yes\n",
        "datasets.toml: invalid TOML: Invalid value (at line 2, column 11). Fix the syntax there: "
        "strings need double quotes, true/false are lowercase, and each dataset is a "
        "[datasets.<name>] table.",
    )


def test_missing_file_names_it_and_suggests_config_and_merbench_init(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing, SPECS)
    assert str(caught.value) == (
        f"{missing}: config file not found (looked for {missing}). Pass --config with an "
        "existing file, or run 'merbench init' in the folder to write a commented "
        "datasets.toml there."
    )


def test_a_dataset_missing_from_the_packaged_default_points_at_merbench_init(tmp_path):
    config = load_config(PACKAGED_CONFIG, SPECS)
    with pytest.raises(ConfigError) as caught:
        config.get("my-songs")
    message = str(caught.value)
    assert "There is no datasets.toml in this folder" in message
    assert "merbench init --dataset folder PATH" in message
    assert "Add a [datasets.my-songs] table" not in message


def test_a_folder_is_not_a_config_file(tmp_path):
    with pytest.raises(ConfigError, match=r": cannot read the config file \(IsADirectoryError"):
        load_config(tmp_path, SPECS)


def test_unknown_top_level_key():
    fails(
        "[dataset.synth]\n",
        "datasets.toml: unknown top-level key 'dataset'. Did you mean 'datasets'? The "
        "top-level keys are 'datasets', 'budgets' and 'executor': declare each dataset as a "
        "[datasets.<name>] table, each budget as a [budgets.<name>] table, the executor as one "
        "[executor] table. Write [datasets.dataset], not [dataset].",
    )
    fails(
        "seed = 3\n",
        "datasets.toml: unknown top-level key 'seed'. The top-level keys are 'datasets', "
        "'budgets' and 'executor': declare each dataset as a [datasets.<name>] table, each "
        "budget as a [budgets.<name>] table, the executor as one [executor] table.",
    )
    fails(
        "[budget.quick]\ntrials = 3\n",
        "datasets.toml: unknown top-level key 'budget'. Did you mean 'budgets'? The top-level "
        "keys are 'datasets', 'budgets' and 'executor': declare each dataset as a "
        "[datasets.<name>] table, each budget as a [budgets.<name>] table, the executor as one "
        "[executor] table.",
    )


def test_datasets_must_be_a_table():
    fails(
        'datasets = ["synth"]\n',
        "datasets.toml: 'datasets' must be a table of [datasets.<name>] tables, got "
        "[\"synth\"] (an array). Remove 'datasets = ...' and write a [datasets.synth] table.",
    )


def test_a_dataset_entry_must_be_a_table():
    fails(
        "[datasets]\nsynth = true\n",
        "datasets.toml [datasets.synth]: must be a table, got true (a boolean). Write a "
        "[datasets.synth] line with the dataset's keys below it, e.g. enabled = true.",
    )


def test_messages_name_the_file_it_was_read_from(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("[datasets.synth]\nenabled = 1\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))} \\[datasets.synth\\]: "):
        load_config(path, SPECS)


# --- keys, types and choices ---------------------------------------------------------------------


def test_unknown_key_suggests_the_close_one_and_lists_all():
    fails(
        "[datasets.pmemo]\npth = '/data/PMEmo2019'\n",
        "datasets.toml [datasets.pmemo]: unknown key 'pth'. Did you mean 'path'? Allowed keys: "
        "enabled, max_seconds, on_bad_tracks, options, path, plugin, split, tasks.",
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'enabled = "yes"',
            "'enabled' must be true or false, got \"yes\" (a string). "
            "Write enabled = true or enabled = false, without quotes.",
        ),
        (
            "plugin = 3",
            "'plugin' must be a string, got 3 (an integer). "
            'Quote the plugin name, e.g. plugin = "folder".',
        ),
        (
            "path = ['a']",
            "'path' must be a string, got [\"a\"] (an array). "
            'Quote the folder, e.g. path = "${MERBENCH_DATA}/my-songs".',
        ),
        (
            "options = 5",
            "'options' must be a table, got 5 (an integer). Write the options below a "
            "[datasets.synth.options] line, one 'name = value' a line.",
        ),
        (
            'split = "oficial"',
            '\'split\' must be one of "grouped", "random", "official", got "oficial" (a string). '
            "Did you mean 'official'? Example: split = \"grouped\".",
        ),
        (
            'on_bad_tracks = "stop"',
            '\'on_bad_tracks\' must be one of "skip", "fail", got "stop" (a string). '
            'Example: on_bad_tracks = "skip".',
        ),
        (
            "on_bad_tracks = true",
            '\'on_bad_tracks\' must be one of "skip", "fail", got true (a boolean). '
            'Example: on_bad_tracks = "skip".',
        ),
    ],
)
def test_wrong_types_and_choices(line, message):
    fails(f"[datasets.synth]\n{line}\n", f"datasets.toml [datasets.synth]: {message}")


@pytest.mark.parametrize(
    ("name", "hint"),
    [("PMEmo", " Did you mean 'pmemo'?"), ("my_songs", " Did you mean 'my-songs'?"), ("4q", "")],
)
def test_invalid_dataset_name(name, hint):
    fails(
        f"[datasets.{name}]\n",
        f"datasets.toml [datasets.{name}]: invalid dataset name '{name}'.{hint} A name is a "
        "lowercase letter followed by up to 31 lowercase letters, digits or '-'. Rename the table.",
    )


def test_a_name_toml_cannot_leave_bare_is_quoted():
    fails(
        '[datasets."my songs"]\n',
        "datasets.toml [datasets.\"my songs\"]: invalid dataset name 'my songs'. Did you mean "
        "'my-songs'? A name is a lowercase letter followed by up to 31 lowercase letters, "
        "digits or '-'. Rename the table.",
    )


# --- plugins and options -------------------------------------------------------------------------


def test_unknown_plugin_suggests_a_close_one_and_counts_them():
    fails(
        "[datasets.mine]\nplugin = 'pmem'\n",
        "datasets.toml [datasets.mine]: unknown dataset plugin 'pmem'. Did you mean 'pmemo'? "
        "Run 'merbench list datasets' to see all 4. Install the plugin that provides it, or set "
        "enabled = false to keep the table for later.",
    )


def test_unknown_plugin_taken_from_the_table_name_says_so():
    fails(
        "[datasets.fma]\n",
        "datasets.toml [datasets.fma]: unknown dataset plugin 'fma' (taken from the table name; "
        "set 'plugin' to choose another). Run 'merbench list datasets' to see all 4. Install the "
        "plugin that provides it, or set enabled = false to keep the table for later.",
    )


def test_unknown_plugin_with_no_plugin_installed():
    with pytest.raises(
        ConfigError,
        match=re.escape("No dataset plugin is installed; run 'merbench plugins' to see why."),
    ):
        parse_config("[datasets.synth]\n", {}, environ={})


def test_unknown_option_suggests_and_lists_the_declared_ones():
    fails(
        "[datasets.synth.options]\nn_clip = 10\n",
        "datasets.toml [datasets.synth.options]: unknown option 'n_clip' for plugin 'synth'. "
        "Did you mean 'n_clips'? Options: extra, keys, n_clips, noise, stereo.",
    )


def test_option_for_a_plugin_without_options(tmp_path):
    fails(
        f"[datasets.pmemo]\npath = '{tmp_path}'\n[datasets.pmemo.options]\nfast = true\n",
        "datasets.toml [datasets.pmemo.options]: plugin 'pmemo' takes no options, got 'fast'. "
        "Remove the options table.",
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'n_clips = "many"',
            "option 'n_clips' must be an integer (plugin 'synth' defaults to 240), "
            'got "many" (a string). Example: n_clips = 240.',
        ),
        (
            "n_clips = 2.5",
            "option 'n_clips' must be an integer (plugin 'synth' defaults to 240), "
            "got 2.5 (a float). Example: n_clips = 240.",
        ),
        (
            "n_clips = true",
            "option 'n_clips' must be an integer (plugin 'synth' defaults to 240), "
            "got true (a boolean). Example: n_clips = 240.",
        ),
        (
            "noise = false",
            "option 'noise' must be a number (plugin 'synth' defaults to 0.5), "
            "got false (a boolean). Example: noise = 0.5.",
        ),
        (
            "stereo = 1",
            "option 'stereo' must be true or false (plugin 'synth' defaults to false), "
            "got 1 (an integer). Example: stereo = false.",
        ),
        (
            'keys = "C"',
            "option 'keys' must be an array (plugin 'synth' defaults to [\"C\", \"G\"]), "
            'got "C" (a string). Example: keys = ["C", "G"].',
        ),
    ],
)
def test_option_of_the_wrong_type(line, message):
    fails(
        f"[datasets.synth.options]\n{line}\n", f"datasets.toml [datasets.synth.options]: {message}"
    )


def test_string_option_of_the_wrong_type(tmp_path):
    fails(
        f"[datasets.mine]\nplugin = 'folder'\npath = '{tmp_path}'\n"
        "[datasets.mine.options]\nlabels = 3\n",
        "datasets.toml [datasets.mine.options]: option 'labels' must be a string (plugin "
        '\'folder\' defaults to "labels.csv"), got 3 (an integer). Example: labels = "labels.csv".',
    )


# --- paths ---------------------------------------------------------------------------------------


def test_missing_path_when_the_plugin_needs_one():
    fails(
        "[datasets.pmemo]\n",
        "datasets.toml [datasets.pmemo]: plugin 'pmemo' needs a path to a local copy, and none is "
        'given. Add a line path = "..." naming the folder of your copy, or set enabled = false.',
    )
    fails(
        "[datasets.deam]\n",
        "datasets.toml [datasets.deam]: plugin 'deam' needs a path to a local copy, and none is "
        'given. Download it from https://example.org/deam, then add a line path = "..." naming '
        "the folder of your copy, or set enabled = false.",
    )


def test_path_for_a_plugin_that_takes_none():
    fails(
        "[datasets.synth]\npath = '/data'\n",
        "datasets.toml [datasets.synth]: plugin 'synth' takes no path (it needs no local copy), "
        "got path = \"/data\". Remove 'path'.",
    )


def test_path_that_does_not_exist_shows_raw_and_expanded(tmp_path):
    fails(
        "[datasets.pmemo]\npath = '${DATA}/PMEmo2019'\n",
        f"datasets.toml [datasets.pmemo]: path '${{DATA}}/PMEmo2019' (expanded: "
        f"{tmp_path}/PMEmo2019) does not exist. Download the dataset there, point 'path' at "
        "your copy, or set enabled = false.",
        environ={"DATA": str(tmp_path)},
    )
    fails(
        f"[datasets.pmemo]\npath = '{tmp_path}/gone'\n",
        f"datasets.toml [datasets.pmemo]: path '{tmp_path}/gone' does not exist. Download the "
        "dataset there, point 'path' at your copy, or set enabled = false.",
    )


def test_undefined_variable_is_named():
    fails(
        "[datasets.pmemo]\npath = '${MERBENCH_DATA}/PMEmo2019'\n",
        "datasets.toml [datasets.pmemo]: path '${MERBENCH_DATA}/PMEmo2019' uses the environment "
        "variable MERBENCH_DATA, which is not set. Set it (export MERBENCH_DATA=/path/to/data) or "
        "edit 'path' in datasets.toml.",
    )


def test_braced_and_bare_variables_are_expanded(tmp_path):
    (tmp_path / "PMEmo2019").mkdir()
    environ = {"DATA": str(tmp_path), "SET": "PMEmo2019"}
    for raw in ("${DATA}/PMEmo2019", "$DATA/PMEmo2019", "${DATA}/$SET", "$DATA/${SET}/"):
        config = parse(f"[datasets.pmemo]\npath = '{raw}'\n", environ=environ)
        assert config.get("pmemo").path == tmp_path / "PMEmo2019"


def test_variables_default_to_the_process_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_DATA", str(tmp_path))
    config = parse_config("[datasets.pmemo]\npath = '${MERBENCH_DATA}'\n", SPECS)
    assert config.get("pmemo").path == tmp_path


def test_tilde_is_the_home_folder(tmp_path, monkeypatch):
    (tmp_path / "music").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    config = parse_config("[datasets.pmemo]\npath = '~/music'\n", SPECS)
    assert config.get("pmemo").path == tmp_path / "music"
    config = parse("[datasets.pmemo]\npath = '~/music'\n", environ={"HOME": str(tmp_path)})
    assert config.get("pmemo").path == tmp_path / "music"


def test_a_variable_may_hold_a_tilde(tmp_path):
    (tmp_path / "data").mkdir()
    environ = {"HOME": str(tmp_path), "DATA": "~/data"}
    assert parse("[datasets.pmemo]\npath = '$DATA'\n", environ=environ).get("pmemo").path == (
        tmp_path / "data"
    )


def test_relative_paths_start_at_the_config_files_folder(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "data" / "PMEmo2019").mkdir(parents=True)
    path = tmp_path / "conf" / "datasets.toml"
    path.write_text("[datasets.pmemo]\npath = '../data/PMEmo2019'\n")
    monkeypatch.chdir(tmp_path / "data")
    config = load_config(path, SPECS, environ={})
    assert config.source == path
    assert config.get("pmemo").path == tmp_path / "data" / "PMEmo2019"


def test_relative_paths_in_memory_start_at_the_working_folder(tmp_path, monkeypatch):
    (tmp_path / "PMEmo2019").mkdir()
    monkeypatch.chdir(tmp_path)
    assert parse("[datasets.pmemo]\npath = 'PMEmo2019'\n").get("pmemo").path == (
        tmp_path / "PMEmo2019"
    )


# --- default and shipped files -------------------------------------------------------------------


def test_default_path_prefers_the_working_folder(tmp_path):
    assert default_config_path(tmp_path) == PACKAGED_CONFIG
    (tmp_path / "datasets.toml").write_text("[datasets.synth]\n")
    assert default_config_path(tmp_path) == tmp_path / "datasets.toml"


def test_default_path_is_relative_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_config_path() == PACKAGED_CONFIG
    (tmp_path / "datasets.toml").write_text("[datasets.synth]\n")
    assert default_config_path() == Path("datasets.toml")
    assert load_config(None, SPECS).source == Path("datasets.toml")


def test_packaged_default_enables_synth_with_default_options():
    config = load_config(PACKAGED_CONFIG, {"synth": SPECS["synth"]}, environ={})
    assert [d.name for d in config.enabled()] == ["synth"]
    assert dict(config.get("synth").options) == dict(SPECS["synth"].options)


def test_shipped_file_is_the_packaged_default():
    assert (ROOT / "datasets.toml").read_text() == PACKAGED_CONFIG.read_text()


def test_commented_examples_are_valid_toml():
    lines = PACKAGED_CONFIG.read_text().splitlines()
    example = re.compile(r"^# (\[datasets\.|[a-z_]+ = )")
    uncommented = "\n".join(line[2:] if example.match(line) else line for line in lines)
    tables = tomllib.loads(uncommented)["datasets"]
    assert list(tables) == [
        "synth",
        "pmemo",
        "deam",
        "emomusic",
        "fourq",
        "merge",
        "merp",
        "my-songs",
    ]
    assert tables["merge"]["options"] == {"set": "audio", "balanced": False, "frame": "70-15-15"}
    assert tables["my-songs"]["plugin"] == "folder"
    assert all(tables[name]["path"].startswith("${MERBENCH_DATA}/") for name in list(tables)[1:])


def test_tasks_of_a_disabled_table_are_checked_by_name():
    fails(
        '[datasets.pmemo]\nenabled = false\ntasks = ["av-regresion"]\n',
        "datasets.toml [datasets.pmemo]: unknown task 'av-regresion'. Did you mean "
        "'av-regression'? Tasks: av-regression, quadrant, arousal-binary, valence-binary, "
        "mood-tags.",
    )
    assert parse('[datasets.pmemo]\nenabled = false\ntasks = "quadrant"\n').get("pmemo").tasks == (
        "quadrant",
    )
