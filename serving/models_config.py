"""``models.config`` for one TF Serving instance serving several models (no tfmeta).

TF Serving reads a ``ModelServerConfig`` in protobuf text format
(``--model_config_file``)::

    model_config_list {
      config {
        name: "my_digit"
        base_path: "/models/my_digit"
        model_platform: "tensorflow"
      }
    }

:func:`write_models_config` lists every model under an export base (a folder
``BASE/NAME`` holding at least one numeric version ``BASE/NAME/<v>/``), with
base paths as the server sees them (``--container_base``, e.g. ``/models`` when
``BASE`` is mounted there in the Docker container).

Example:
    python -m serving.models_config --base=exports --container_base=/models
    # writes exports/models.config
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
from typing import Mapping

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
FILE_NAME = "models.config"


def discover_models(base: str) -> list[str]:
    """Names of the folders of ``base`` that hold at least one numeric version."""
    if not os.path.isdir(base):
        raise FileNotFoundError(f"export base {base!r} does not exist")
    names = []
    for entry in sorted(os.listdir(base)):
        folder = os.path.join(base, entry)
        if os.path.isdir(folder) and any(
                v.isdigit() and os.path.isdir(os.path.join(folder, v)) for v in os.listdir(folder)):
            names.append(entry)
    return names


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def models_config(models: Mapping[str, str]) -> str:
    """The text-format ``ModelServerConfig`` of ``{name: base_path}``."""
    if not models:
        raise ValueError("no models to list in models.config")
    lines = ["model_config_list {"]
    for name, base_path in models.items():
        if not _NAME.match(name):
            raise ValueError(f"model name {name!r} must match {_NAME.pattern}")
        lines += ["  config {", f"    name: {_quote(name)}",
                  f"    base_path: {_quote(base_path)}",
                  '    model_platform: "tensorflow"', "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_models_config(base: str, out: str | None = None, container_base: str | None = None,
                        names: list[str] | None = None) -> str:
    """Writes ``models.config`` (default ``BASE/models.config``) atomically; returns its path.

    Args:
      base: the export base on this machine.
      out: where to write (default ``BASE/models.config``).
      container_base: the base as the server sees it (default: ``base``, absolute).
      names: the models to list (default: every model found under ``base``).
    """
    names = names or discover_models(base)
    if container_base:
        paths = {n: posixpath.join(container_base, n) for n in names}
    else:
        paths = {n: os.path.join(os.path.abspath(base), n) for n in names}
    text = models_config(paths)
    out = out or os.path.join(base, FILE_NAME)
    tmp = f"{out}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, out)
    return out


def define_flags() -> None:
    """Defines this tool's absl flags (once; a library import defines none)."""
    from absl import flags
    if "container_base" in flags.FLAGS:
        return
    flags.DEFINE_string("base", None, "(required) Export base: one folder per model, numbered "
                        "versions inside.", required=True)
    flags.DEFINE_string("out", None, "Output file (default BASE/models.config).")
    flags.DEFINE_string("container_base", None, "The base path as TF Serving sees it, e.g. "
                        "/models inside the Docker container (default: BASE, absolute).")
    flags.DEFINE_list("names", None, "Models to list (default: every model under --base).")


def main(argv=None) -> None:
    from absl import app, flags
    define_flags()

    def run(_):
        f = flags.FLAGS
        try:
            print(write_models_config(f.base, f.out, f.container_base, f.names))
        except (ValueError, FileNotFoundError) as e:
            sys.exit(f"error: {e}")

    app.run(run, argv)


if __name__ == "__main__":
    main()
