"""The README is a short user guide whose commands and code parse as written.

Every ``python -m MODULE ...`` command of this project's tools in the ``sh`` blocks of README.md,
docs/ and bench/README.md is parsed with the tool's own absl flags (an unknown flag, a bad
value or a missing required flag fails), and a trainer's flags are also resolved into its
config (``TRAINER.resolve``, with and without a GPU), so a bad enum or an invalid combination
fails too. The imports of the README's
Python blocks must resolve. All of it runs in one subprocess, so TensorFlow is imported once.
"""

import glob
import json
import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
PAGES = [README, os.path.join(ROOT, "bench", "README.md"),
         *sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))]
PACKAGES = ("trainers", "export", "serving", "bench")
TEST_COMMAND = 'pip install -e ".[test]" && python -m pytest -q -n 2 --dist loadfile tests'

# Runs in a fresh interpreter: reads [[module, [args...]], ...] and python snippets as JSON on
# stdin, prints a JSON list of failures. Each module's flags are removed from the one absl
# registry after its commands, since tools define the same flag names (--workdir, --seed ...).
CHECKER = r'''
import ast, importlib, json, sys
from absl import flags
FLAGS = flags.FLAGS
request = json.load(sys.stdin)
failures = []
by_module = {}
for module, args in request["commands"]:
    by_module.setdefault(module, []).append(args)
for module, commands in by_module.items():
    before = set(FLAGS)
    try:
        mod = importlib.import_module(module)
        if hasattr(mod, "TRAINER"):   # trainers: their own flags, resolved into a config
            for args in commands:
                command = " ".join(["python -m", module, *args])
                try:
                    mod.TRAINER.parse(args)
                    for gpu in (False, True):   # --preset=auto without and with a GPU
                        mod.TRAINER.resolve(gpu)
                except Exception as e:
                    failures.append(f"{command}: {type(e).__name__}: {e}")
            continue
        if hasattr(mod, "define_flags"):  # tools that define their flags only when run
            mod.define_flags()
    except Exception as e:
        failures.append(f"{module}: import failed: {type(e).__name__}: {e}")
        continue
    defined = set(FLAGS) - before
    for args in commands:
        command = " ".join(["python -m", module, *args])
        FLAGS.unparse_flags()
        if not defined:
            failures.append(f"{command}: {module} defines no absl flags at import")
            continue
        try:
            rest = FLAGS(["prog", *args])
            if len(rest) > 1:
                raise ValueError(f"unexpected arguments {rest[1:]}")
        except Exception as e:
            failures.append(f"{command}: {type(e).__name__}: {e}")
    FLAGS.unparse_flags()
    for name in defined:
        delattr(FLAGS, name)
for source in request["python"]:
    for node in ast.walk(ast.parse(source)):
        try:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    importlib.import_module(alias.name)
            elif isinstance(node, ast.ImportFrom):
                mod = importlib.import_module(node.module)
                for alias in node.names:
                    if not hasattr(mod, alias.name):
                        importlib.import_module(f"{node.module}.{alias.name}")
        except Exception as e:
            failures.append(f"python block: {ast.unparse(node)}: {type(e).__name__}: {e}")
print(json.dumps(failures))
'''


def code_blocks(path, language):
    """The bodies of the fenced blocks of ``language`` in the Markdown file at ``path``."""
    text = open(path).read()
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.M | re.S)


def tool_commands(path):
    """``(module, args)`` of every ``python -m`` command of this project in ``path``'s sh blocks.

    Backslash continuations are joined, comments dropped, and lines split at ``&&``, ``;`` and
    ``|``; ``pip``, ``docker``, ``tensorboard`` and ``curl`` commands are not ours to check.
    """
    commands = []
    for block in code_blocks(path, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            segment = []
            for word in words + ["&&"]:
                if word not in ("&&", ";", "|", "||"):
                    segment.append(word)
                    continue
                if segment[:2] == ["python", "-m"] and segment[2].split(".")[0] in PACKAGES:
                    commands.append((segment[2], segment[3:]))
                segment = []
    return commands


def test_readme_is_a_short_guide_with_a_contents_list():
    lines = open(README).read().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines"
    assert "## Contents" in lines
    # every entry of the contents list points at a heading of the README
    anchors = {re.sub(r"[^a-z0-9 _-]", "", h[3:].lower()).replace(" ", "-")
               for h in lines if h.startswith("## ")}
    entries = re.findall(r"^- \[.*?\]\(#(.*?)\)", "\n".join(lines), flags=re.M)
    assert len(entries) >= 8 and set(entries) <= anchors, set(entries) - anchors


def test_readme_keeps_the_test_command_that_ci_runs():
    text = open(README).read()
    assert f"<!-- test-command -->\n```sh\n{TEST_COMMAND}\n```" in text


def test_readme_and_docs_hold_no_machine_specific_path():
    for path in PAGES:
        found = re.findall(r"(?<![\w.])/(?:work|root|home|Users)/\S*", open(path).read())
        assert not found, f"{os.path.relpath(path, ROOT)}: {found}"


def test_relative_links_of_readme_and_docs_point_at_files():
    for path in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", open(path).read()):
            if "://" in target:
                continue
            full = os.path.normpath(os.path.join(os.path.dirname(path), target))
            assert os.path.exists(full), f"{os.path.relpath(path, ROOT)} links to {target}"


def test_every_documented_command_parses_with_its_tools_flags(tmp_path):
    commands = [c for path in PAGES for c in tool_commands(path)]
    modules = {module for module, _ in commands}
    # the README's own commands reach the main trainer, the exporters, serving and a benchmark
    assert {"trainers.maml_gan", "export.saved_model", "export.adapted", "serving.models_config",
            "serving.cli", "bench.meta_step", "trainers.few_shot",
            "trainers.few_shot_eval"} <= modules, sorted(modules)
    # absolute scratch folders (the smoke run's /tmp/...) are moved under tmp_path, so a run
    # left there by an earlier smoke run cannot turn the check into a resume
    commands = [(module, [re.sub(r"^(--\w+=)/tmp/", rf"\g<1>{tmp_path}/", a) for a in args])
                for module, args in commands]
    python = [block for path in PAGES for block in code_blocks(path, "python")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", CHECKER], cwd=tmp_path, env=env, text=True,
                          input=json.dumps({"commands": commands, "python": python}),
                          capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    failures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not failures, "\n".join(failures)


# The cost of paper 000's settings on a CPU is measured once per machine kind, in bench/README.md's
# table; every page that quotes it quotes the range of that table, so no two pages disagree.
PAPER_COST_PAGES = ("README.md", "bench/README.md", "docs/results/table1.md",
                    "docs/results/second_order_maml_gan.md", "docs/results/mnist_maml_gan.md")
PAPER_COST_HEADING = "### The paper's settings, per machine kind"


def paper_cost_rows():
    """``[(low_s, high_s, low_h, high_h)]`` of bench/README.md's per-machine table."""
    text = open(os.path.join(ROOT, "bench", "README.md")).read()
    section = text.split(PAPER_COST_HEADING, 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not re.fullmatch(r"[\d.]+(-[\d.]+)? s", cells[-2]):
            continue
        seconds = [float(v) for v in cells[-2][:-2].split("-")]
        hours = [float(v) for v in cells[-1].removesuffix(" h").split("-")]
        rows.append((seconds[0], seconds[-1], hours[0], hours[-1]))
    return rows


def test_the_papers_settings_cost_is_one_measured_range_on_every_page():
    rows = paper_cost_rows()
    assert len(rows) >= 2, rows
    for low, high, low_h, high_h in rows:       # 20000 updates, in hours, rounded
        assert (round(20000 * low / 3600), round(20000 * high / 3600)) == (low_h, high_h), rows
    low, high = min(r[0] for r in rows), max(r[1] for r in rows)
    low_h, high_h = min(r[2] for r in rows), max(r[3] for r in rows)
    quote = f"{low:g}-{high:g} s per meta-update ({low_h:g}-{high_h:g} hours for 20000)"
    for page in PAPER_COST_PAGES:
        text = " ".join(open(os.path.join(ROOT, page)).read().split())
        assert quote in text, f"{page} does not quote {quote!r}"
        assert "5-11 s" not in text and "28-61 hours" not in text, page


def test_fidelity_figure_draws_the_points_the_page_quotes(tmp_path):
    """fidelity_curves.json holds fidelity.md's own figures; its script draws them."""
    import importlib.util
    results = os.path.join(ROOT, "docs", "results")
    page = " ".join(open(os.path.join(results, "fidelity.md")).read().split())
    with open(os.path.join(results, "fidelity_curves.json")) as f:
        runs = json.load(f)["runs"]
    learners = {run["learner"] for run in runs}
    assert {"Prototypical", "Relation", "MAML", "first-order MAML", "Meta-SGD", "Matching",
            "Reptile", "Siamese"} <= learners, learners
    for run in runs:
        assert f"**{run['score']:.2f} ± {run['ci95']:.2f}**" in page, run["run"]
        assert str(run["updates"]) in page, run["run"]
        updates = [u for u, _ in run["points"]]
        assert updates == sorted(updates) and all(0 < u <= run["updates"] for u in updates)
        if "point_minutes" not in run:      # quoted on the page, point by point
            for _, accuracy in run["points"]:
                assert f"{accuracy:.2f}" in page, (run["run"], accuracy)
    spec = importlib.util.spec_from_file_location(
        "fidelity_figure", os.path.join(results, "fidelity_figure.py"))
    figure = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figure)
    matching = next(run for run in runs if run["learner"] == "Matching")
    assert figure.point_minutes(matching) == [5, 17, 25, 35, 45, 60]
    maml = next(run for run in runs if run["learner"] == "MAML")
    assert figure.point_minutes(maml)[-1] == maml["minutes"]      # the last point is the end
    rows, curves = figure.rows_and_curves(runs)
    assert [len(c) for c in curves] == [len(run["points"]) for run in runs]
    assert rows[2]["train_seconds"] == 3600 and rows[2]["accuracy"] == maml["score"] / 100
    figure.plot_comparison(rows, curves, str(tmp_path / "all.png"), "time")
    assert os.path.getsize(tmp_path / "all.png") > 10000


def test_gan_diagnostics_count_linear_critic_units_and_measure_inner_gradients(tmp_path):
    """gan_ten_steps.md's measuring script on a tiny real MNIST setup: at the random
    initialization no unit of the critic is linear on the images; a second-layer bias far
    above its inputs makes every unit of that layer linear; WGAN-GP gives the critic's last
    bias no gradient (it cancels between real and generated images)."""
    import importlib.util
    import numpy as np
    import tensorflow as tf
    from tests.shared import tfds_dir
    from tfmeta.experiments import maml_gan
    spec = importlib.util.spec_from_file_location(
        "gan_diagnostics", os.path.join(ROOT, "docs", "results", "gan_diagnostics.py"))
    diagnostics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(diagnostics)
    config = maml_gan.MamlGanConfig(
        dataset="mnist", data_dir=str(tfds_dir()), download=False, algorithm="reptile",
        loss="wgan-gp", inner_steps=2, batch_size=8, generator_width=8, discriminator_width=8,
        latent_dim=16)
    splits = maml_gan.load_data(config)
    setup = maml_gan.build(config, splits.train.image_shape)
    saved = tf.train.CheckpointManager(setup.checkpoint, str(tmp_path / "checkpoints"),
                                       max_to_keep=None)   # as a run keeps them
    saved.save(checkpoint_number=0)
    bias = setup.discriminator.get_layer("conv2").bias
    bias.assign(bias + 1000.0)
    saved.save(checkpoint_number=1)
    first, second = diagnostics.critic_units(setup, splits, str(tmp_path))
    assert [first["step"], second["step"]] == [0, 1]
    assert first["layers"]["conv2"][1] == 0.0 and first["layers"]["conv1"][1] == 0.0, first
    assert second["layers"]["conv2"] == (1.0, 1.0), second
    assert second["layers"]["conv1"] == first["layers"]["conv1"]
    assert abs(second["conv2_bias"][0] - first["conv2_bias"][0] - 1000.0) < 1e-3
    setup.checkpoint.restore(saved.checkpoints[0]).expect_partial()
    found = dict(diagnostics.gradients(setup, splits, tasks=2))
    sizes = {player: dict(entries) for player, entries in found.items()}
    assert set(sizes["generator"]) == {"fc/kernel", "fc/bias", "deconv1/kernel",
                                       "deconv1/bias", "deconv2/kernel", "deconv2/bias"}
    assert sizes["discriminator"]["fc/kernel"].size == 2 * 7 * 7 * 16
    assert np.all(sizes["discriminator"]["fc/bias"] == 0.0)
    assert np.all(np.isfinite(sizes["generator"]["fc/kernel"]))
    assert np.median(sizes["generator"]["deconv2/kernel"]) > 0
