"""How close merbench runs to what the machine can do: five measurements, side by side, as ratios.

Run from the repository root: ``python benchmarks/bench_speed.py`` (a few minutes on 2 cores;
``--quick`` halves the sizes). Each section prints its figures and the ratio it is about:

1. harness overhead: ``fit_torch`` (merbench's training loop) against a bare hand-written torch
   loop training the same network for the same epochs on the same data, in the same process
   settings (target <= 1.05x); then merbench's default process settings (allocator, channels-last,
   threads) against plain PyTorch defaults, both bare loops in fresh processes (target >= 1.5x);
2. achieved GFLOP/s of each torch candidate's training step against the measured matrix-multiply
   peak in the same precision (``benchmarks/bench_models.py``, run here as a subprocess);
3. cold against warm cache for ``merbench run --budget smoke`` on synth;
4. ``svr@handcrafted`` five-fold cross-validation through merbench against a plain librosa +
   scikit-learn script doing the same work on the same clips (target: merbench no slower);
5. time and peak memory of a merbench run as the number of clips doubles;
6. whole cells: one outer fold of every torch candidate of ``--models all`` with the ``default``
   budget on synth, built and run exactly as ``merbench run`` does (one torch thread, features
   cached first), and the share of each cell's time per phase (``merbench.train.timing``): the
   training steps' share, ``train`` plus the ``augment`` work of augmented candidates (their
   training step includes it), is the target (>= 80 %).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

# The same network trained for the same epochs on the same data, by merbench's loop ("harness")
# and by a bare hand-written PyTorch loop ("bare"), in one process after a warm-up call of each
# (the first training call of a process pays for kernel creation), best of three, alternating.
LOOPS = textwrap.dedent(
    """
    import json, sys, time
    settings = json.loads(sys.argv[1])
    if settings["merbench_settings"]:
        from merbench.train.allocator import configure_allocator
        configure_allocator()
    import numpy as np, torch
    from merbench.evaluation.budgets import get_budget
    from merbench.evaluation.tasks import get_task
    from merbench.plugin.registry import load_registry
    from merbench.plugin.specs import InputShape
    from merbench.train.loop import fit_torch, set_threads
    from merbench.train.fit import Problem
    from merbench_plugins.models import _cnn2d_net
    if settings["merbench_settings"]:
        set_threads()
    n, shape, epochs, batch = settings["n"], tuple(settings["shape"]), settings["epochs"], 16
    data = np.random.default_rng(0)
    x_np = data.standard_normal((n, *shape)).astype(np.float32)
    y_np = data.standard_normal((n, 2))
    model = load_registry().model("cnn2d")
    problem = Problem(task=get_task("av-regression"), labels=(), budget=get_budget("default"),
                      sample_rate=16000)

    def harness():
        fit_torch(model, {"lr": 1e-3, "weight_decay": 1e-4}, ([x_np], y_np), problem, seed=0,
                  trainables=[None], epochs=epochs)

    def bare():
        rng = np.random.default_rng(0)
        x, y = torch.from_numpy(x_np), torch.from_numpy(y_np.astype(np.float32))
        torch.manual_seed(0)
        net = _cnn2d_net.build((InputShape(kind="spectrogram", shape=shape),), 2)
        if settings["channels_last"]:
            net = net.to(memory_format=torch.channels_last)
        optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
        for epoch in range(epochs):
            net.train()
            order = torch.from_numpy(rng.permutation(n))
            for start in range(0, n, batch):
                index = order[start:start + batch]
                batch_x = x[index]
                if settings["channels_last"]:
                    batch_x = batch_x.contiguous(memory_format=torch.channels_last)
                loss = torch.nn.functional.mse_loss(net(batch_x), y[index])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=5.0)
                optimiser.step()
            schedule.step()

    loops = {name: {"harness": harness, "bare": bare}[name] for name in settings["loops"]}
    best = {name: float("inf") for name in loops}
    for name, loop in loops.items():
        loop()  # warm-up
    for _ in range(3):
        for name, loop in loops.items():
            started = time.perf_counter()
            loop()
            best[name] = min(best[name], time.perf_counter() - started)
    print(json.dumps(best))
    """
)


def _loops(settings: dict[str, object], env: dict[str, str] | None = None) -> dict[str, float]:
    result = subprocess.run(
        [PY, "-c", LOOPS, json.dumps(settings)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | (env or {}),
        cwd=ROOT,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def harness_overhead(quick: bool) -> None:
    settings = {"n": 64 if quick else 128, "shape": [1, 64, 251], "epochs": 2 if quick else 3}
    print(f"\n1. harness overhead: cnn2d on {settings['n']} log-mel inputs, {settings['epochs']} "
          "epochs (seconds, best of 3 after a warm-up)")  # fmt: skip
    ours = _loops({**settings, "merbench_settings": True, "channels_last": True,
                   "loops": ["harness", "bare"]})  # fmt: skip
    plain = _loops(
        {**settings, "merbench_settings": False, "channels_last": False, "loops": ["bare"]},
        {"MERBENCH_ALLOCATOR": "system", "OMP_NUM_THREADS": ""},
    )
    harness_s, bare_s, plain_s = ours["harness"], ours["bare"], plain["bare"]
    print(f"   merbench fit_torch {harness_s:7.2f} s | bare loop, same settings {bare_s:7.2f} s | "
          f"ratio {harness_s / bare_s:.3f}x (target <= 1.05x)")  # fmt: skip
    print(f"   plain PyTorch defaults {plain_s:7.2f} s | merbench settings {bare_s:7.2f} s | "
          f"speed-up {plain_s / bare_s:.2f}x (target >= 1.5x)")  # fmt: skip


def model_flops(quick: bool) -> None:
    print("\n2. achieved GFLOP/s per torch candidate (benchmarks/bench_models.py)")
    steps = ["--steps", "3" if quick else "5"]
    result = subprocess.run(
        [PY, str(ROOT / "benchmarks" / "bench_models.py"), *steps],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    print(textwrap.indent(result.stdout.rstrip() or result.stderr[-1500:], "   "))


def _merbench_run(args: list[str], workdir: Path, cache: Path, config: Path | None) -> dict:
    env = os.environ | {"MERBENCH_CACHE": str(cache), "CI": "1"}
    command = [PY, "-m", "merbench", "run", *args, "--no-progress", "--out", str(workdir / "run"),
               "--leaderboard", str(workdir / "site")]  # fmt: skip
    if config is not None:
        command += ["--config", str(config)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(result.stderr[-2000:])
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": elapsed, "peak_mib": peak_mib, "before": before}


def cache_effect(root: Path) -> None:
    print("\n3. cold against warm cache: merbench run --models all --budget smoke on synth")
    cold = _merbench_run(["--budget", "smoke"], root / "c1", root / "cache-a", None)
    warm = _merbench_run(["--budget", "smoke"], root / "c2", root / "cache-a", None)
    print(f"   cold {cold['seconds']:7.1f} s | warm {warm['seconds']:7.1f} s | "
          f"cold/warm {cold['seconds'] / warm['seconds']:.2f}x")  # fmt: skip


PLAIN_SVR = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np, pandas as pd, librosa, soundfile
    from sklearn.model_selection import GroupKFold, GroupShuffleSplit, ParameterSampler
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.multioutput import MultiOutputRegressor
    from sklearn.svm import SVR
    from sklearn.metrics import r2_score
    from scipy.stats import loguniform
    table = pd.read_csv(sys.argv[1])
    started = time.perf_counter()
    rows = []
    for path in table["audio_path"]:
        y, sr = librosa.load(path, sr=16000, mono=True, duration=float(sys.argv[3]))
        feats = [librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20),
                 librosa.feature.chroma_stft(y=y, sr=sr),
                 librosa.feature.spectral_centroid(y=y, sr=sr),
                 librosa.feature.spectral_bandwidth(y=y, sr=sr),
                 librosa.feature.spectral_rolloff(y=y, sr=sr),
                 librosa.feature.spectral_contrast(y=y, sr=sr),
                 librosa.feature.spectral_flatness(y=y), librosa.feature.rms(y=y),
                 librosa.feature.zero_crossing_rate(y)]
        frames = np.concatenate(feats)
        onset = librosa.onset.onset_strength(y=y, sr=sr)
        tempo = librosa.feature.tempo(onset_envelope=onset, sr=sr)
        rows.append(np.concatenate([frames.mean(1), frames.std(1), [onset.mean(), tempo[0]]]))
    x = np.array(rows)
    target = table[["arousal", "valence"]].to_numpy()
    groups = table["group"].to_numpy()
    space = {"estimator__svr__C": loguniform(0.1, 100),
             "estimator__svr__gamma": loguniform(1e-4, 1e-1)}
    scores = []
    for train, test in GroupKFold(5, shuffle=True, random_state=0).split(x, target, groups):
        inner_train, valid = next(GroupShuffleSplit(1, test_size=0.2, random_state=0).split(
            x[train], groups=groups[train]))
        best, best_params = -np.inf, None
        for params in ParameterSampler(space, n_iter=int(sys.argv[2]), random_state=0):
            model = MultiOutputRegressor(make_pipeline(StandardScaler(), SVR()))
            model.set_params(**params)
            model.fit(x[train][inner_train], target[train][inner_train])
            value = r2_score(target[train][valid], model.predict(x[train][valid]))
            if value > best:
                best, best_params = value, params
        model = MultiOutputRegressor(make_pipeline(StandardScaler(), SVR()))
        model.set_params(**best_params)
        model.fit(x[train], target[train])
        scores.append(r2_score(target[test], model.predict(x[test])))
    print(json.dumps({"seconds": time.perf_counter() - started, "r2": float(np.mean(scores))}))
    """
)


def _synth_config(folder: Path, n_clips: int) -> Path:
    config = folder / f"synth-{n_clips}.toml"
    config.write_text(
        f"[datasets.synth]\nenabled = true\n[datasets.synth.options]\nn_clips = {n_clips}\n"
    )
    return config


def svr_against_plain(root: Path, quick: bool) -> None:
    from merbench.evaluation.budgets import get_budget

    budget = get_budget("default")
    n_clips = 120 if quick else 240
    print(f"\n4. svr@handcrafted, {budget.outer_folds} outer folds x {budget.trials} trials on "
          f"{n_clips} synth clips of {budget.clip_seconds:g} s, cold caches")  # fmt: skip
    config = _synth_config(root, n_clips)
    # Generate the clips first (outside both timings) and list them for the plain script.
    _merbench_run(["--models", "mean", "--budget", "smoke"], root / "gen", root / "c-svr", config)
    sys.path.insert(0, str(ROOT / "plugins"))
    table = _synth_table(root / "c-svr", n_clips)
    listing = root / "clips.csv"
    table.to_csv(listing, index=False)
    for kind in ("features", "audio"):  # cold for merbench too: decoding and features timed
        shutil.rmtree(root / "c-svr" / kind, ignore_errors=True)
    ours = _merbench_run(["--models", "svr@handcrafted", "--budget", "default"], root / "svr",
                         root / "c-svr", config)["seconds"]  # fmt: skip
    arguments = [str(listing), str(budget.trials), str(budget.clip_seconds)]
    result = subprocess.run([PY, "-c", PLAIN_SVR, *arguments], capture_output=True,
                            text=True, check=True, cwd=ROOT)  # fmt: skip
    plain = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"   merbench (whole run: tuning, refits, stats, leaderboard) {ours:7.1f} s | plain "
          f"librosa + scikit-learn {plain['seconds']:7.1f} s | plain/merbench "
          f"{plain['seconds'] / ours:.2f}x (target >= 1)")  # fmt: skip


def _synth_table(cache: Path, n_clips: int):
    os.environ["MERBENCH_CACHE"] = str(cache)
    from merbench_plugins.datasets import synth

    return synth.load(None, n_clips=n_clips)


def scaling(root: Path, quick: bool) -> None:
    sizes = (60, 120) if quick else (60, 120, 240)
    models = "ridge@handcrafted,cnn2d@mel"
    print(f"\n5. scaling: merbench run --models {models} --budget smoke, cold cache per size")
    print(f"   {'clips':>6}{'seconds':>10}{'s/clip':>9}{'peak MiB':>10}")
    for n_clips in sizes:
        config = _synth_config(root, n_clips)
        script = (
            "import resource, subprocess, sys, time, json; t=time.perf_counter(); "
            "subprocess.run(sys.argv[1:], check=False, capture_output=True); "
            "print(json.dumps({'s': time.perf_counter()-t, "
            "'mib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024}))"
        )
        command = [PY, "-c", script, PY, "-m", "merbench", "run", "--models", models, "--budget",
                   "smoke", "--no-progress", "--config", str(config), "--out",
                   str(root / f"s{n_clips}"), "--leaderboard",
                   str(root / f"s{n_clips}-site")]  # fmt: skip
        env = os.environ | {"MERBENCH_CACHE": str(root / f"cache-{n_clips}"), "CI": "1"}
        result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"   {n_clips:>6}{figures['s']:>10.1f}{figures['s'] / n_clips:>9.3f}"
              f"{figures['mib']:>10.0f}")  # fmt: skip


CELLS = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import merbench
    from merbench.pipeline.cell import run_cell
    from merbench.pipeline.plan import CellBuilder, read_stored_run
    from merbench.plugin.registry import load_registry
    from merbench.results.schema import CellKey
    from merbench.results.store import Store
    from merbench.train.timing import shares
    out, candidates, warm = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3] == "1"
    merbench.run(models=candidates, budget="default", out=out, enqueue_only=True, render=False)
    registry = load_registry()
    store = Store(f"sqlite:///{out / 'results.sqlite'}", create=False)
    stored = read_stored_run(store, registry)
    builder = CellBuilder(store, registry, stored.settings, stored.config, stored.tasks,
                          stored.budget)
    for candidate in candidates:
        key = CellKey(dataset="synth", task="av-regression", candidate=candidate, repeat=0,
                      fold=0)
        plan = builder.resolve(key)
        features = builder.features
        if warm:  # compute and cache the candidate's fixed front-ends once, outside the timing
            run_cell(plan, features)
        timings = run_cell(plan, features).timings
        phases = {k[6:-2]: v for k, v in timings.items() if k.startswith("phase_")}
        total = phases.pop("total")
        print(json.dumps({"candidate": candidate, "total": total, "shares": shares(phases)}))
    """
)


def whole_cells(root: Path, quick: bool, only: str = "") -> None:
    """Section 6: the share of each torch candidate's cell time per phase."""
    from merbench.pipeline.candidates import expand_candidates
    from merbench.plugin.registry import load_registry

    registry = load_registry()
    candidates, _ = expand_candidates(["all"], registry)
    names = [c.name for c in candidates if registry.model(c.model).family == "torch"]
    if only:
        names = [n for n in names if n in only.split(",")]
    if quick:
        names = names[:3]
    env = os.environ | {"MERBENCH_CACHE": str(root / "cache-cells"), "MERBENCH_THREADS": "1"}
    command = [PY, "-c", CELLS, str(root / "cells"), ",".join(names), "1"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root)
    if result.returncode:
        raise SystemExit(result.stderr)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    phases = ("train", "augment", "validate", "predict", "frontends", "setup", "tuning", "other")
    print("\n6. Whole cells (default budget, synth, outer fold 0, 1 thread, features cached)")
    print(f"   {'candidate':<28}{'cell s':>7}" + "".join(f"{p:>10}" for p in phases)
          + f"{'steps':>10}")  # fmt: skip
    for row in rows:
        row["steps"] = row["shares"].get("train", 0.0) + row["shares"].get("augment", 0.0)
        cells = "".join(f"{100 * row['shares'].get(p, 0.0):>9.1f}%" for p in phases)
        print(f"   {row['candidate']:<28}{row['total']:>7.1f}{cells}{100 * row['steps']:>9.1f}%")
    low = min(rows, key=lambda r: r["steps"])
    print(f"   lowest share of training steps (train + augment): {100 * low['steps']:.1f} % "
          f"({low['candidate']}; target >= 80 %)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--only", default="123456", help="sections to run, e.g. 14")
    parser.add_argument("--cells", default="", help="section 6: these candidates only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        sections = {
            "1": lambda: harness_overhead(args.quick),
            "2": lambda: model_flops(args.quick),
            "3": lambda: cache_effect(root),
            "4": lambda: svr_against_plain(root, args.quick),
            "5": lambda: scaling(root, args.quick),
            "6": lambda: whole_cells(root, args.quick, args.cells),
        }
        for key in args.only:
            sections[key]()


if __name__ == "__main__":
    main()
