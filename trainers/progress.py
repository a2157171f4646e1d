"""What a trainer says while it runs: the banner, phase lines, the progress bar, its estimate."""

from __future__ import annotations

import os
import time
from typing import Any, Mapping

from trainers import common


def banner(trainer, config, preset: str | None, how: str, workdir: str) -> str:
    """What is about to run, its preset, and where (new or resumed)."""
    latest = trainer.latest_checkpoint(workdir) if trainer.latest_checkpoint else None
    state = "new run" if latest is None else f"resuming at step {latest[1]}"
    steps = getattr(config, "steps", None)
    if latest is not None:
        state += (f" of {steps}" if steps is not None else "") + (
            f" from {os.path.basename(latest[0])}")
    lines = [trainer.describe(config)]
    if trainer.presets:
        lines.append(f"preset: {preset or 'none'} ({how})")
    lines.append(f"workdir: {os.path.abspath(workdir)} ({state})")
    return "\n".join(lines)


class Progress:
    """Phase lines, the bar ("compiling the meta-update" until the first update) and estimate."""

    def __init__(self, trainer, config, workdir: str, gpu: bool,
                 preset: str | None):
        self.trainer, self.config, self.workdir = trainer, config, workdir
        self.gpu, self.preset = gpu, preset
        self.bar, self.times, self.started = None, [], time.perf_counter()
        self.shown: dict[str, str] = {}
        self.unit = trainer.unit_of(config)
        self.watcher = trainer.watch(config) if trainer.watch else None

    def event(self, name: str, step: int) -> None:
        t = self.trainer
        if name == "data":
            line = f"data loaded in {time.perf_counter() - self.started:.0f} s"
            extra = t.on_data(self.config, self.workdir, step) if t.on_data else ""
            common.say(line + (f"; {extra}" if extra else ""))
        elif name == "start":
            self.bar = common.progress_bar(self.config.steps, f"compiling the {self.unit}",
                                           initial=step)
            self._postfix()
            self.bar.refresh()
            self.times.append(time.perf_counter())
        elif name == "eval" and self.bar is not None:
            self.bar.set_description(self._label(), refresh=False)
        elif name == "scoring":
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            common.say("scoring held-out episodes...")

    def _label(self, step: int | None = None) -> str:
        label = getattr(self.config, "algorithm", self.trainer.name)
        if step is not None and step <= (getattr(self.config, "first_order_steps", 0) or 0):
            label += " (first order)"   # MAML++'s derivative-order annealing: update `step`
        return label

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix(self.shown, refresh=False)

    def curve(self, points: list) -> None:
        if self.trainer.curve_postfix is not None:
            self.shown.update(self.trainer.curve_postfix(points[-1]))
        if self.bar is not None:
            self._postfix()
            self.bar.refresh()
        elif self.trainer.curve_line is not None:
            common.say(self.trainer.curve_line(points[-1]))

    def step(self, step: int, metrics: Mapping[str, Any]) -> None:
        t = self.trainer
        self.times.append(time.perf_counter())
        self.bar.set_description(self._label(step), refresh=False)
        for label, key in t.postfix.items():
            if key in metrics:
                self.shown[label] = f"{float(metrics[key]):.3f}"
        self._postfix()
        self.bar.update(1)
        warning = self.watcher(step, metrics) if self.watcher else None
        if warning:
            common.say(warning)
        pause = t.pause(self.config, step) if t.pause else None
        if pause:
            self.bar.set_description(pause, refresh=False)
            self.bar.refresh()
        if len(self.times) <= 4:   # the first updates show at once, however fast
            self.bar.refresh()
        if len(self.times) == 4 and not self.gpu:
            per_update = (self.times[3] - self.times[1]) / 2
            left = self.config.steps - step
            if left > 0:
                hint = t.cpu_hint(self.config, self.preset, self.workdir) if t.cpu_hint else None
                budget = 60 * getattr(self.config, "max_minutes", 0)
                took = (f"about {common.duration(per_update * left)}"
                        if not budget or per_update * left < budget else
                        f"longer than `max_minutes`: it ends the run after "
                        f"{common.duration(budget)} of training")
                common.say(f"no GPU visible: {per_update:.2f} s per {self.unit}; the {left} left "
                           f"take {took}" + (f". {hint}" if hint else ""))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
