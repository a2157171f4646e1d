"""The package layout: imports flow one way, without cycles, and every library file is small.

Layers, lowest first (a module may import its own layer and the ones below):

    0  core         tfmeta (package), types, functional, inner, inner_lstm, inner_scales, io,
                    checks, algorithms, distribute
    1  data, nets   task distributions, samplers; model builders
    2  objectives   gan, classify, metric, megan, rl: losses and objectives of a problem family
    3  eval         metrics over plain callables; savedmodel, serving modules (signatures)
    4  training     the meta-training loop; keras, its Keras-native front door
    5  experiments  one package per experiment
    6  top          trainers, export, bench

``serving`` stands apart: it never imports tfmeta (nor trainers, export, bench),
so a client machine needs no TensorFlow-heavy library. Every import counts, the
module-level ones and those inside functions (a function-local import hides an
upward edge from Python, not from this test), and the graph of all of them must
have no cycle.
"""

from __future__ import annotations

import ast
import io
import os
import re
import tokenize
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tfmeta", "trainers", "export", "bench", "serving")
MAX_LINES = 300
MAX_TRAINER_LINES = 150
MAX_SHELL_LINES = 170   # the shell's own modules; trainers/common.py, shared with the exporters,
                        # keeps the library's MAX_LINES

# Longest matching prefix wins. A tfmeta module under no prefix fails the test: give it a layer.
LAYERS = {
    "tfmeta": 0, "tfmeta.types": 0, "tfmeta.functional": 0, "tfmeta.inner": 0,
    "tfmeta.inner_lstm": 0, "tfmeta.inner_scales": 0,
    "tfmeta.io": 0, "tfmeta.checks": 0, "tfmeta.algorithms": 0, "tfmeta.distribute": 0,
    "tfmeta.data": 1, "tfmeta.nets": 1,
    "tfmeta.gan": 2, "tfmeta.classify": 2, "tfmeta.metric": 2, "tfmeta.megan": 2, "tfmeta.rl": 2,
    "tfmeta.eval": 3, "tfmeta.savedmodel": 3,
    "tfmeta.training": 4, "tfmeta.budget": 4, "tfmeta.keras": 4,
    "tfmeta.experiments": 5,
    "trainers": 6, "export": 6, "bench": 6,
}
LAYER_NAMES = {0: "core", 1: "data/nets", 2: "objectives", 3: "eval/savedmodel", 4: "training",
               5: "experiments", 6: "trainers/export/bench"}
# Edges that are wrong whatever the layers say.
FORBIDDEN = [
    ("tfmeta", ("trainers", "export", "serving", "bench", "tests")),
    ("serving", ("tfmeta", "trainers", "export", "bench")),
    ("tfmeta.eval", ("tfmeta.experiments",)),
]


# Package -> submodule edges made only inside the package's module-level ``__getattr__`` (PEP
# 562): ``tfmeta.keras`` is imported on first attribute access, never when ``tfmeta`` is
# imported, so no layer is crossed at import time. Any other import of it still counts.
LAZY = {("tfmeta", "tfmeta.keras")}


def _lazy_nodes(tree: ast.Module) -> set[int]:
    """ids of the import nodes inside a module-level ``def __getattr__``."""
    return {id(node) for top in tree.body
            if isinstance(top, ast.FunctionDef) and top.name == "__getattr__"
            for node in ast.walk(top) if isinstance(node, (ast.Import, ast.ImportFrom))}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> int | None:
    """The layer of ``module`` (None for serving, which has its own rule)."""
    best = max((p for p in LAYERS if _under(module, p)), key=len, default=None)
    return None if best is None else LAYERS[best]


def find_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every Python module of the checked packages: dotted name -> file."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``module`` imports anywhere in its file (functions included).

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a
    module, else ``pkg``; relative imports are resolved against ``module``.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    lazy = _lazy_nodes(tree) if is_package else set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join(parts[:keep] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            # The longest known module the dotted name starts with (``import a.b.c`` -> a.b.c).
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module and not (id(node) in lazy
                                                     and (module, target) in LAZY):
                found.add(target)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    modules = find_modules(root)
    known = set(modules)
    return {m: imports_of(m, p, known) for m, p in modules.items()}


def layering_errors(graph: dict[str, set[str]]) -> list[str]:
    """One line per import that goes up a layer or crosses a forbidden boundary."""
    errors = []
    for module in sorted(graph):
        for target in sorted(graph[module]):
            for source, banned in FORBIDDEN:
                for b in banned:
                    if _under(module, source) and _under(target, b):
                        errors.append(f"{module} imports {target} ({source} must never "
                                      f"import {b})")
            low, high = layer_of(module), layer_of(target)
            if low is not None and high is not None and high > low:
                errors.append(f"{module} ({LAYER_NAMES[low]}) imports {target} "
                              f"({LAYER_NAMES[high]}), a higher layer")
    return errors


def unlayered(graph: dict[str, set[str]]) -> list[str]:
    """tfmeta modules without a layer."""
    return sorted(m for m in graph if _under(m, "tfmeta") and layer_of(m) is None)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(out)


class ImportDirectionTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.graph = import_graph()

    def test_the_graph_sees_the_packages_and_function_local_imports(self):
        self.assertIn("tfmeta.eval.generation", self.graph)
        self.assertIn("tfmeta.data.support", self.graph["tfmeta.eval.generation"])
        # trainers import the library inside main(), after absl parsed the flags.
        self.assertTrue(any(_under(t, "tfmeta") for t in self.graph["trainers.critic"]))

    def test_every_tfmeta_module_has_a_layer(self):
        self.assertEqual(unlayered(self.graph), [])

    def test_no_module_imports_a_higher_layer_or_a_forbidden_package(self):
        errors = layering_errors(self.graph)
        self.assertEqual(errors, [], "\n" + "\n".join(errors))

    def test_there_is_no_import_cycle(self):
        found = cycles(self.graph)
        self.assertEqual(found, [], "\n" + "\n".join(" <-> ".join(c) for c in found))


class CheckerSelfTest(unittest.TestCase):
    """The checks would have caught issue 16's cycle, which function-local imports hid."""

    OLD_EDGES = {
        "tfmeta.eval.generation": {"tfmeta.experiments.maml_gan", "tfmeta.data"},
        "tfmeta.eval.table": {"tfmeta.experiments.maml_gan", "tfmeta.eval.generation"},
        "tfmeta.experiments.maml_gan": {"tfmeta.eval.generation", "tfmeta.gan"},
        "tfmeta.gan": set(),
        "tfmeta.data": set(),
    }

    def test_the_old_eval_experiment_cycle_is_reported(self):
        self.assertEqual(cycles(self.OLD_EDGES),
                         [["tfmeta.eval.generation", "tfmeta.experiments.maml_gan"]])

    def test_the_old_upward_imports_are_reported(self):
        errors = layering_errors(self.OLD_EDGES)
        self.assertIn("tfmeta.eval.generation imports tfmeta.experiments.maml_gan "
                      "(tfmeta.eval must never import tfmeta.experiments)", errors)
        self.assertIn("tfmeta.eval.table (eval/savedmodel) imports tfmeta.experiments.maml_gan "
                      "(experiments), a higher layer", errors)
        self.assertEqual(len(errors), 4)

    def test_serving_importing_tfmeta_and_library_importing_trainers_are_reported(self):
        errors = layering_errors({"serving.client": {"tfmeta.io"},
                                  "tfmeta.training": {"trainers.common"}})
        self.assertEqual(len(errors), 3, errors)   # serving rule; tfmeta rule + layer
        self.assertTrue(any("serving.client imports tfmeta.io" in e for e in errors))

    def test_a_long_cycle_through_three_modules_is_one_component(self):
        graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
        self.assertEqual(cycles(graph), [["a", "b", "c"]])
        self.assertEqual(cycles({"a": {"b"}, "b": set()}), [])

    def test_function_local_and_relative_imports_are_parsed(self):
        source = ("import os\n"
                  "from . import sibling\n"
                  "def f():\n"
                  "    from tfmeta.experiments.maml_gan import load_run\n"
                  "    import tfmeta.gan.losses\n")
        known = {"pkg.mod", "pkg.sibling", "tfmeta.experiments.maml_gan", "tfmeta.gan",
                 "tfmeta.gan.losses"}
        path = Path(self.create_tempfile(source))
        self.assertEqual(imports_of("pkg.mod", path, known),
                         {"pkg.sibling", "tfmeta.experiments.maml_gan", "tfmeta.gan.losses"})

    def create_tempfile(self, text: str) -> str:
        import tempfile
        fd, name = tempfile.mkstemp(suffix=".py")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.remove, name)
        return name


class LibraryFilesTest(unittest.TestCase):

    def test_every_library_file_opens_with_a_docstring_saying_its_job(self):
        missing = []
        for path in sorted((ROOT / "tfmeta").rglob("*.py")):
            doc = ast.get_docstring(ast.parse(path.read_text()))
            if not doc or len(doc.split()) < 4:
                missing.append(str(path.relative_to(ROOT)))
        self.assertEqual(missing, [], "files without a module docstring")

    def test_every_library_file_is_at_most_300_lines(self):
        long = {str(p.relative_to(ROOT)): n for p in sorted((ROOT / "tfmeta").rglob("*.py"))
                if (n := len(p.read_text().splitlines())) > MAX_LINES}
        self.assertEqual(long, {}, f"split these modules (limit {MAX_LINES} lines)")

    def test_every_trainer_is_a_short_declaration_of_its_experiment(self):
        # The shell (trainers/shell.py and the modules it is made of) does the work; a
        # trainer declares.
        shell = {"shell.py": MAX_SHELL_LINES, "fields.py": MAX_SHELL_LINES,
                 "progress.py": MAX_SHELL_LINES, "failures.py": MAX_SHELL_LINES,
                 "common.py": MAX_LINES}
        long = {p.name: n for p in sorted((ROOT / "trainers").glob("*.py"))
                if p.name not in shell
                and (n := len(p.read_text().splitlines())) > MAX_TRAINER_LINES}
        self.assertEqual(long, {}, f"trainers over {MAX_TRAINER_LINES} lines")
        long = {name: n for name, cap in shell.items()
                if (n := len((ROOT / "trainers" / name).read_text().splitlines())) > cap}
        self.assertEqual(long, {}, f"shell modules over their caps {shell}")

    def test_library_names_no_command_line_flags(self):
        # Library messages name config fields and arguments (`name`); only the shell says --name.
        found = flag_mentions(ROOT / "tfmeta")
        self.assertEqual(found, [], "\n" + "\n".join(found))


# Two dashes then a letter: ``--ways``, ``--{name}``. Strings (docstrings, f-strings) and comments.
_FLAG = re.compile(r"--[A-Za-z{]")
_TEXT_TOKENS = {tokenize.STRING, tokenize.COMMENT}
for _name in ("FSTRING_MIDDLE", "TSTRING_MIDDLE"):     # Python 3.12+ splits f-strings
    if hasattr(tokenize, _name):
        _TEXT_TOKENS.add(getattr(tokenize, _name))


def flag_mentions_in(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string or comment naming a ``--flag``, and each ``flag=True``."""
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in _TEXT_TOKENS and _FLAG.search(tok.string):
            found.append((tok.start[0], tok.string.strip()))
    found += [(i, line.strip()) for i, line in enumerate(source.splitlines(), 1)
              if "flag=True" in line]
    return sorted(set(found))


def flag_mentions(root: Path) -> list[str]:
    """``file:line: text`` for every flag mention in the .py files under ``root``."""
    return [f"{path.relative_to(ROOT)}:{line}: {text}"
            for path in sorted(root.rglob("*.py"))
            for line, text in flag_mentions_in(path.read_text())]


class FlagScanSelfTest(unittest.TestCase):

    def test_strings_comments_fstrings_and_flag_true_are_reported(self):
        source = ('x = 3\ny = x--1\n'
                  'a = "--ways must be"\n'
                  'b = f"--{name} must be {x}"\n'
                  '# use --loss=wgan-gp\n'
                  'def f():\n    """Docstring: the --seed."""\n'
                  'check("n", 1, flag=True)\n'
                  'c = "`ways` must be -- really"\n')
        self.assertEqual([line for line, _ in flag_mentions_in(source)], [3, 4, 5, 7, 8])


if __name__ == "__main__":
    unittest.main()
