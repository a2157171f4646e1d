"""bench.compare_peer and bench.compare_few_shot run a fair comparison (bench.fair), without torch.

Both benches run here against fakes: one small Python program (:data:`FAKE`) stands in for the
two peer scripts (``--peer_dir``) and for tfmeta's side (``--tfmeta_python``, run as
``python -m bench.<module> ...``). It logs the arguments it got and prints a record in the
format of the side it stands for, with the timings and memory of a table the test writes, so
that the parity of the workloads (every setting given to both sides, learning rates and
threads included), the order of the rounds, the ratio arithmetic and the load marking can be
checked exactly. Each bench runs once per module (a few seconds: no TensorFlow is started).
"""

import json
import os
import statistics
import subprocess
import sys

import pytest

from bench import fair

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FAKE = r'''
"""A fake side of a bench.fair comparison: logs its arguments, prints a fixed record."""
import json, os, sys

DIR = os.environ["FAKE_SIDE_DIR"]
argv = sys.argv[1:]
module = argv[1] if argv[:1] == ["-m"] else os.path.basename(__file__)
args = argv[2:] if argv[:1] == ["-m"] else argv
given, i = {}, 0
while i < len(args):
    name, value = args[i], True
    if "=" in name:
        name, value = name.split("=", 1)
    elif i + 1 < len(args) and not args[i + 1].startswith("--"):
        value, i = args[i + 1], i + 1
    for kind in (int, float) if isinstance(value, str) else ():
        try:
            value = kind(value)
            break
        except ValueError:
            pass
    value = {"true": True, "false": False}.get(value, value)
    given[name.lstrip("-").replace("-", "_")] = value
    i += 1
if module == "bench.few_shot_step":
    form = "tfmeta " + given["tasks_mode"]
elif module == "bench.meta_step":
    form = "tfmeta remat" if given["remat"] else "tfmeta"
elif module in ("torch_maml_omniglot.py", "torch_protonet.py"):
    form = "peer " + given["tasks_mode"]
else:
    form = "peer " + {"per-task": "per-task"}.get(given.get("meta_backward"), "default")
log = os.path.join(DIR, "calls.jsonl")
calls = [json.loads(l) for l in open(log)] if os.path.exists(log) else []
with open(log, "a") as f:
    f.write(json.dumps({"module": module, "form": form, "given": given}) + "\n")
table = json.load(open(os.path.join(DIR, "table.json")))
rows = table["runs"][form]
sec, peak, before = rows[sum(c["form"] == form for c in calls) % len(rows)]
rmsprop = dict(inner_lr=1e-4, inner_rho=0.9, inner_eps=1e-7, outer_lr=1e-4, outer_rho=0.9,
               outer_eps=1e-7)
if module == "bench.few_shot_step":
    record = dict(given, side="tfmeta")
elif module == "bench.meta_step":
    record = dict(given, loss="wgan-gp", warmup=1)
    record["jit_compile"] = record.pop("nojit_compile") is not True
    if given["algorithm"] == "reptile":
        record.update(inner_lr=1e-4, inner_beta_1=0.5, inner_beta_2=0.999, inner_eps=1e-7,
                      outer_lr=0.1)
    else:
        record.update(rmsprop, first_order=given["algorithm"] == "fomaml")
elif module == "torch_maml_omniglot.py":
    record = {k: given[k] for k in ("algorithm", "ways", "shots", "queries", "tasks",
                                    "inner_steps", "tasks_mode", "threads")}
elif module == "torch_protonet.py":
    record = {k: given[k] for k in ("algorithm", "ways", "shots", "queries", "tasks",
                                    "inner_steps", "outer_lr", "tasks_mode", "threads")}
else:
    config = {k: given[k] for k in ("tasks", "inner_steps", "batch", "steps", "warmup", "loss",
                                    "threads")}
    if given["algo"] == "reptile":
        config.update(inner_opt={"name": "Adam", "lr": 1e-4, "betas": [0.5, 0.999],
                                 "eps": 1e-7}, reptile_eps_outer=0.1)
    else:
        config.update(meta_backward=given.get("meta_backward", "end"),
                      inner_opt={"name": "rmsprop_functional", "lr": 1e-4, "rho": 0.9,
                                 "eps": 1e-7, "create_graph": given["algo"] == "maml"},
                      outer_opt={"name": "RMSprop", "lr": 1e-4, "alpha": 0.9, "eps": 1e-7})
    record = {"algo": given["algo"], "config": config}


def merge(into, changes):
    for key, value in changes.items():
        if isinstance(value, dict):
            merge(into.setdefault(key, {}), value)
        else:
            into[key] = value


merge(record, table.get("report", {}).get(form, {}))
record.update(sec_per_meta_update=sec, peak_rss_mb=peak, rss_before_first_update_mb=before)
print("progress lines of a real run", file=sys.stderr)
print(json.dumps(record))
'''

# (seconds per meta-update, peak RSS, RSS before the first update) of each form, round by round
FEW_SHOT_RUNS = {
    "tfmeta loop": [[1.0, 800, 600], [3.0, 820, 600], [2.0, 810, 610]],  # 2.0 s, set 200 MB
    "peer vmap": [[3.0, 1500, 300], [2.5, 1500, 300], [4.0, 1500, 300]],  # 3.0 s, 1200 MB
    "peer loop": [[5.0, 800, 300], [5.0, 800, 300], [6.0, 800, 300]],  # 5.0 s, 500 MB
    "peer per-task": [[4.0, 400, 300], [4.5, 390, 300], [5.0, 380, 300]],  # 4.5 s, 90 MB
    "peer batched": [[0.3, 500, 300]]}  # ProtoNet's one form
GAN_RUNS = {
    "tfmeta": [[2.0, 1900, 600]] * 3,  # 2.0 s, set 1300 MB
    "tfmeta remat": [[3.0, 1150, 600]] * 3,  # 3.0 s, 550 MB
    "peer default": [[6.0, 3400, 300], [5.0, 3400, 300], [7.0, 3400, 300]],  # 6.0 s, 3100 MB
    "peer per-task": [[4.0, 1170, 300], [4.0, 1170, 300], [5.0, 1170, 300]]}  # 4.0 s, 870 MB
FEW_SHOT_FLAGS = ("--configs=maml-5w1s-15q-32t-1k,fomaml-3w2s-4q-6t-2k", "--inner_lr=0.25",
                  "--outer_lr=0.002", "--warmup=1", "--repeats=2", "--threads=3",
                  "--loaded_above=0")
GAN_FLAGS = ("--algorithms=maml,reptile", "--remat", "--inner_steps=2", "--tasks=3",
             "--batch_size=8", "--repeats=2", "--threads=3", "--loaded_above=1.5")


def _fakes(directory, runs, report=None):
    """The fake peer scripts and tfmeta python in ``directory``; its ``--`` flags for a bench."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("torch_maml_omniglot.py", "torch_mamlgan.py", "torch_protonet.py"):
        (directory / name).write_text(FAKE)
    python = directory / "tfmeta_python"
    python.write_text(f"#!{sys.executable}\n{FAKE}")
    python.chmod(0o755)
    (directory / "table.json").write_text(json.dumps({"runs": runs, "report": report or {}}))
    return [f"--peer_python={sys.executable}", f"--peer_dir={directory}",
            f"--tfmeta_python={python}", "--settle_sec=0"]  # no waiting for a quiet machine


def _bench(module, directory, runs, *flags, report=None):
    """Runs ``python -m module`` against the fakes: ``(process, JSON lines, fake calls)``."""
    args = _fakes(directory, runs, report)
    proc = subprocess.run([sys.executable, "-m", module, *args, *flags], cwd=ROOT, text=True,
                          capture_output=True, timeout=300,
                          env=dict(os.environ, FAKE_SIDE_DIR=str(directory)))
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    log = directory / "calls.jsonl"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return proc, lines, calls


@pytest.fixture(scope="module")
def few_shot(tmp_path_factory):
    proc, lines, calls = _bench("bench.compare_few_shot", tmp_path_factory.mktemp("few_shot"),
                                FEW_SHOT_RUNS, *FEW_SHOT_FLAGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return lines, calls


@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    proc, lines, calls = _bench("bench.compare_peer", tmp_path_factory.mktemp("gan"), GAN_RUNS,
                                *GAN_FLAGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return lines, calls


def _summaries(lines):
    return {line["summary"]: line for line in lines if "summary" in line}


def test_few_shot_runs_tfmeta_then_every_peer_form_in_each_of_three_rounds(few_shot):
    lines, calls = few_shot
    order = ["tfmeta loop", "peer vmap", "peer loop", "peer per-task"]
    assert [c["form"] for c in calls] == order * 6  # 2 workloads x 3 rounds (the default)
    runs = [line for line in lines if "side" in line]
    assert [(r["side"], r["round"]) for r in runs] == [
        (side, index) for _ in range(2) for index in range(3) for side in order]


def test_few_shot_gives_both_sides_every_setting_learning_rates_and_threads_included(few_shot):
    _, calls = few_shot
    expected = [dict(algorithm="maml", ways=5, shots=1, queries=15, tasks=32, inner_steps=1),
                dict(algorithm="fomaml", ways=3, shots=2, queries=4, tasks=6, inner_steps=2)]
    for index, call in enumerate(calls):
        workload = dict(expected[index // 12], inner_lr=0.25, outer_lr=0.002, warmup=1,
                        repeats=2, threads=3, tasks_mode=call["form"].split(" ", 1)[1])
        given = dict(call["given"])
        if call["module"] == "bench.few_shot_step":
            assert given == workload, call
        else:
            assert call["module"] == "torch_maml_omniglot.py"
            given["repeats"] = given.pop("steps")
            assert given == workload, call


def test_few_shot_summary_has_the_medians_and_ratios_against_every_peer_form(few_shot):
    lines, _ = few_shot
    summaries = _summaries(lines)
    maml, fomaml = summaries["maml-5w1s-15q-32t-1k"], summaries["fomaml-3w2s-4q-6t-2k"]
    assert maml["threads"] == 3 and maml["workload"]["inner_lr"] == 0.25
    ours = maml["sides"]["tfmeta loop"]
    # the working set is the median of each run's peak minus its before (not 810 - 600)
    assert (ours["sec_per_meta_update"], ours["peak_rss_mb"], ours["rss_before_first_update_mb"],
            ours["working_set_mb"]) == (2.0, 810, 600, 200)
    assert maml["sides"]["peer per-task"]["working_set_mb"] == 90
    ratios = maml["ratios"]["tfmeta loop"]
    assert ratios["speedup_vs"] == pytest.approx({"peer vmap": 1.5, "peer loop": 2.5,
                                                  "peer per-task": 2.25})
    # maml: vmap is the fastest form but inexact (batch norm); per-task the fastest exact one
    assert (maml["peer_fastest"], maml["peer_fastest_exact"], maml["peer_leanest"]) == (
        "peer vmap", "peer per-task", "peer per-task")
    assert ratios["speedup_vs_peer_fastest"] == pytest.approx(1.5)
    assert ratios["speedup_vs_peer_fastest_exact"] == pytest.approx(2.25)
    assert ratios["working_set_ratio_vs_peer_leanest"] == pytest.approx(90 / 200)
    # first order: vmap is exact
    assert fomaml["peer_fastest_exact"] == "peer vmap"
    assert fomaml["ratios"]["tfmeta loop"]["speedup_vs_peer_fastest_exact"] == pytest.approx(1.5)


def test_few_shot_protonet_runs_its_one_form_on_each_side_without_an_inner_rate(tmp_path):
    proc, lines, calls = _bench("bench.compare_few_shot", tmp_path, FEW_SHOT_RUNS, "--rounds=1",
                                "--configs=protonet-20w1s-5q-2t-0k", "--outer_lr=0.002",
                                "--repeats=2", "--threads=3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [(c["module"], c["form"]) for c in calls] == [
        ("bench.few_shot_step", "tfmeta loop"), ("torch_protonet.py", "peer batched")]
    workload = dict(algorithm="protonet", ways=20, shots=1, queries=5, tasks=2, inner_steps=0,
                    outer_lr=0.002, warmup=2, repeats=2, threads=3)
    assert calls[0]["given"] == dict(workload, tasks_mode="loop")
    peer = dict(calls[1]["given"])
    peer["repeats"] = peer.pop("steps")
    assert peer == dict(workload, tasks_mode="batched")
    summary = _summaries(lines)["protonet-20w1s-5q-2t-0k"]
    assert summary["peer_fastest"] == summary["peer_leanest"] == "peer batched"
    assert summary["ratios"]["tfmeta loop"]["speedup_vs_peer_fastest"] == pytest.approx(0.3 / 1.0)


def test_gan_runs_the_peer_default_and_per_task_forms_and_reptile_only_its_default(gan):
    _, calls = gan
    maml = ["tfmeta", "tfmeta remat", "peer default", "peer per-task"]
    assert [c["form"] for c in calls] == maml * 3 + ["tfmeta", "peer default"] * 3


def test_gan_gives_both_sides_the_same_workload_and_threads(gan):
    _, calls = gan
    for call in calls:
        given = call["given"]
        if call["module"] == "bench.meta_step":
            assert {k: given[k] for k in ("tasks", "inner_steps", "batch_size", "repeats",
                                          "threads")} == dict(tasks=3, inner_steps=2,
                                                              batch_size=8, repeats=2, threads=3)
            assert given["nojit_compile"] is True
            assert given["remat"] is (call["form"] == "tfmeta remat")
        else:
            assert given == dict(algo=given["algo"], tasks=3, inner_steps=2, batch=8, steps=2,
                                 warmup=1, loss="wgan-gp", threads=3, **(
                                     {} if given["algo"] == "reptile" else
                                     {"meta_backward": call["form"].split(" ")[1].replace(
                                         "default", "end")}))
    assert {c["given"].get("algorithm", c["given"].get("algo")) for c in calls[:12]} == {"maml"}


def test_gan_summary_ratios_against_the_peer_fastest_and_leanest_forms(gan):
    lines, _ = gan
    summaries = _summaries(lines)
    maml, reptile = summaries["maml"], summaries["reptile"]
    assert maml["workload"]["inner_lr"] == 1e-4 and maml["workload"]["threads"] == 3
    assert (maml["peer_fastest"], maml["peer_leanest"]) == ("peer per-task", "peer per-task")
    plain, remat = maml["ratios"]["tfmeta"], maml["ratios"]["tfmeta remat"]
    assert plain["speedup_vs"] == pytest.approx({"peer default": 3.0, "peer per-task": 2.0})
    assert plain["speedup_vs_peer_fastest"] == pytest.approx(2.0)
    assert plain["working_set_ratio_vs_peer_leanest"] == pytest.approx(870 / 1300)
    assert remat["speedup_vs_peer_fastest"] == pytest.approx(4 / 3)
    assert remat["working_set_ratio_vs_peer_leanest"] == pytest.approx(870 / 550)
    assert set(reptile["sides"]) == {"tfmeta", "peer default"}
    assert reptile["ratios"]["tfmeta"]["speedup_vs_peer_fastest"] == pytest.approx(3.0)


@pytest.mark.parametrize("bench", ["few_shot", "gan"])
def test_each_round_records_its_loads_and_is_marked_when_it_started_loaded(bench, request):
    lines, _ = request.getfixturevalue(bench)
    threshold = 0.0 if bench == "few_shot" else 1.5
    rounds = [line for line in lines if "loadavg_before" in line]
    assert [r["round"] for r in rounds] == [0, 1, 2] * 2
    for load in rounds:
        assert len(load["loadavg_before"]) == len(load["loadavg_after"]) == 3
        assert load["loaded"] == (load["loadavg_before"][0] > threshold)
    for summary in _summaries(lines).values():
        mine = [r for r in rounds if r["workload"] == summary["summary"]]
        assert summary["round_loads"] == mine and summary["loaded_above"] == threshold
        assert summary["loaded_rounds"] == [r["round"] for r in mine if r["loaded"]]


def test_run_rounds_marks_a_round_that_starts_above_the_load_threshold():
    loads = iter([(0.5, 0.4, 0.3), (1.6, 0.5, 0.3),  # round 0: quiet at its start
                  (1.5, 0.6, 0.3), (1.2, 0.6, 0.3),  # round 1: loaded
                  (1.0, 0.6, 0.3), (0.7, 0.6, 0.3)])  # round 2: at the threshold, not above
    emitted = []
    side = fair.Side("tfmeta", [], ".", {})
    runs, rounds = fair.run_rounds("w", [side], 3, 1.0, loadavg=lambda: next(loads),
                                   run=lambda s: {"sec_per_meta_update": 1.0},
                                   emit=emitted.append)
    assert [r["loaded"] for r in rounds] == [False, True, False]
    assert rounds[1]["loadavg_before"] == [1.5, 0.6, 0.3]
    assert rounds[1]["loadavg_after"] == [1.2, 0.6, 0.3]
    assert [r["round"] for r in runs["tfmeta"]] == [0, 1, 2]
    assert emitted[1] == rounds[0] and len(emitted) == 6


def test_rounds_wait_for_the_load_to_settle_and_record_the_cpu_other_processes_used():
    # round 0: the load falls to the threshold after two polls; round 1: still above it when
    # the 12 s of settle_sec are spent (5 + 5 + 2), so the round runs and is marked loaded
    loads = iter([(1.9, 1, 1), (1.4, 1, 1), (1.0, 1, 1),  # settle: above, above, at 1.0
                  (1.0, 1, 1), (2.0, 1, 1),               # round 0: before, after
                  (2.0, 1, 1), (1.8, 1, 1), (1.6, 1, 1),  # settle: above for 12 s
                  (1.6, 1, 1), (2.0, 1, 1)])              # round 1: before, after
    # (machine busy, ours) CPU seconds, and the clock: round 0 runs 10 s, the machine is busy
    # 19.5 s of it and ours 17.5 s: others 2 s over 10 s x the cores; round 1: no /proc/stat
    cpus = iter([(100.0, 50.0), (119.5, 67.5), (None, 70.0), (None, 80.0)])
    clock = iter([0.0, 10.0, 20.0, 30.0])
    slept, emitted = [], []
    runs, rounds = fair.run_rounds(
        "w", [fair.Side("tfmeta", [], ".", {})], 2, 1.0, settle_sec=12,
        run=lambda s: {"sec_per_meta_update": 1.0}, loadavg=lambda: next(loads),
        cpu=lambda: next(cpus), clock=lambda: next(clock), sleep=slept.append,
        emit=emitted.append)
    assert slept == [5.0, 5.0, 5.0, 5.0, 2.0]
    assert [r["settled_sec"] for r in rounds] == [10.0, 12.0]
    assert [r["loaded"] for r in rounds] == [False, True]
    assert rounds[0]["others_cpu_share"] == pytest.approx(2.0 / (10.0 * (os.cpu_count() or 1)),
                                                          abs=1e-3)
    assert rounds[1]["others_cpu_share"] is None
    busy, ours = fair.cpu_seconds()   # this machine's own figures: ours is part of the busy time
    assert ours > 0 and (busy is None or busy >= ours)


def test_check_parity_names_each_setting_reported_otherwise_or_not_at_all():
    side = fair.Side("peer loop", [], ".", {"ways": 5, "inner_lr": 0.4, "threads": 2},
                     unreported=("inner_lr",))
    fair.check_parity(side, {"ways": 5, "threads": 2, "machine": "x"})
    with pytest.raises(ValueError) as error:
        fair.check_parity(side, {"ways": 5, "inner_lr": 0.5})
    assert str(error.value) == ("peer loop ran another workload than asked: inner_lr=0.5 "
                                "(asked 0.4), threads not reported (asked 2)")


def _refused_line(proc):
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def test_gan_stops_when_the_peer_reports_another_learning_rate(tmp_path):
    report = {"peer per-task": {"config": {"inner_opt": {"lr": 2e-4}}}}
    proc, _, _ = _bench("bench.compare_peer", tmp_path, GAN_RUNS, "--algorithms=fomaml",
                        "--rounds=1", report=report)
    assert _refused_line(proc) == ("error: peer per-task ran another workload than asked: "
                                   "inner_lr=0.0002 (asked 0.0001)")


def test_few_shot_stops_when_a_side_reports_other_threads(tmp_path):
    report = {"tfmeta loop": {"threads": 2, "inner_lr": 0.4}}
    proc, _, _ = _bench("bench.compare_few_shot", tmp_path, FEW_SHOT_RUNS, "--rounds=1",
                        "--configs=maml-5w1s-15q-32t-1k", "--inner_lr=0.3", "--threads=4",
                        report=report)
    assert _refused_line(proc) == ("error: tfmeta loop ran another workload than asked: "
                                   "inner_lr=0.4 (asked 0.3), threads=2 (asked 4)")


def test_bad_flags_are_refused_with_one_line_naming_them(tmp_path):
    fakes = _fakes(tmp_path, GAN_RUNS)
    (tmp_path / "not_executable").write_text("")
    for module, flag, message in [
            ("bench.compare_peer", f"--tfmeta_python={tmp_path / 'not_executable'}",
             f"error: tfmeta: cannot run {tmp_path / 'not_executable'}: Permission denied"),
            ("bench.compare_peer", "--threads=0", "flag --threads=0: 0 is not a positive integer"),
            ("bench.compare_peer", "--rounds=0", "flag --rounds=0: 0 is not a positive integer"),
            ("bench.compare_few_shot", "--outer_lr=0", "--outer_lr: expected a number > 0"),
            ("bench.compare_few_shot", "--tfmeta_python=no/such/python",
             "error: --tfmeta_python=no/such/python does not exist")]:
        proc = subprocess.run([sys.executable, "-m", module, *fakes, flag], cwd=ROOT, text=True,
                              capture_output=True, timeout=120)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert message in proc.stderr.strip().splitlines()[0], proc.stderr


def test_fake_tables_medians_are_what_the_assertions_say():
    # guards the hand-computed expectations above against an edit of the tables
    def median(rows, column):
        return statistics.median(row[column] for row in rows)
    assert median(FEW_SHOT_RUNS["tfmeta loop"], 0) == 2.0
    assert median(FEW_SHOT_RUNS["peer vmap"], 0) == 3.0
    assert statistics.median(p - b for _, p, b in FEW_SHOT_RUNS["peer per-task"]) == 90
    assert median(GAN_RUNS["peer default"], 0) == 6.0
