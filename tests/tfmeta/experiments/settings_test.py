"""Settings resolve in one order for every experiment: given > stored run > preset > default."""

import dataclasses
import unittest

from tfmeta.experiments import settings
from tfmeta.experiments.settings import NoneOf, OneOf, Preset, Rule, setting


@dataclasses.dataclass(frozen=True)
class Toy:
    algorithm: str = setting("maml", "The learner.", choices=("maml", "protonet"))
    ways: int = setting(5, "N: classes per episode.")
    shots: int = setting(1, "K: support images per class.")
    steps: int = setting(100, "Meta-updates of the run.")
    widths: tuple = setting((8, 8), "Hidden widths; see `steps`.")

    def __post_init__(self):
        if self.ways < 2:
            raise ValueError(f"`ways` must be at least 2, got {self.ways}")


PRESETS = {
    "cpu": Preset("cpu", "small", {"steps": 10},
                  rules=(Rule({"algorithm": "protonet"}, {"steps": 20}),)),
    "paper": Preset("paper", "published", {"steps": 1000}, rules=(
        Rule({"algorithm": OneOf({"maml"}), ("ways", "shots"): NoneOf({(5, 1), (20, 1)})},
             refuse="`preset`=paper has no settings for `ways`={ways} `shots`={shots}"),
        Rule({("ways", "shots"): (20, 1)}, {"steps": 2000}))),
}


def resolve(**kwargs):
    return settings.resolve(Toy, PRESETS, **kwargs)


class SettingsTest(unittest.TestCase):

    def test_field_declares_help_and_choices_once(self):
        self.assertEqual(settings.help_of(Toy, "ways"), "N: classes per episode.")
        self.assertEqual(settings.choices_of(Toy, "algorithm"), ("maml", "protonet"))
        self.assertIsNone(settings.choices_of(Toy, "ways"))
        self.assertEqual(Toy().widths, (8, 8))
        with self.assertRaisesRegex(KeyError, "no field `nope`"):
            settings.help_of(Toy, "nope")

    def test_given_wins_over_preset_and_its_rules(self):
        config, preset, how = resolve(given={"steps": 7, "algorithm": "protonet"},
                                      default_preset="cpu")
        self.assertEqual((config.steps, config.algorithm, preset, how), (7, "protonet", "cpu",
                                                                         "default"))

    def test_preset_rules_see_the_given_values(self):
        self.assertEqual(resolve(given={"algorithm": "protonet"}, default_preset="cpu")
                         .config.steps, 20)
        self.assertEqual(resolve(given={}, default_preset="cpu").config.steps, 10)
        self.assertEqual(resolve(given={"ways": 20}, preset="paper").config.steps, 2000)
        self.assertEqual(resolve(given={}, preset="paper").config.steps, 1000)

    def test_refusing_rule_is_one_line_naming_the_fields(self):
        with self.assertRaises(ValueError) as raised:
            resolve(given={"ways": 3}, preset="paper")
        self.assertEqual(str(raised.exception),
                         "`preset`=paper has no settings for `ways`=3 `shots`=1")
        # the rule's condition on the algorithm: protonet has no such restriction
        self.assertEqual(resolve(given={"ways": 3, "algorithm": "protonet"}, preset="paper")
                         .config.ways, 3)

    def test_stored_run_wins_over_the_default_preset_not_over_a_named_one(self):
        stored = {"steps": 55, "ways": 3, "widths": [4, 2], "preset": "cpu"}
        config, preset, how = resolve(given={"shots": 5}, stored=stored, default_preset="cpu")
        self.assertEqual((config.steps, config.ways, config.shots, config.widths),
                         (55, 3, 5, (4, 2)))
        self.assertEqual((preset, how), ("cpu", "as stored with the run"))
        config, preset, how = resolve(given={}, stored=stored, preset="paper")
        self.assertEqual((config.steps, config.ways, preset, how), (1000, 5, "paper", "given"))
        _, preset, how = resolve(given={}, stored={"steps": 1}, default_preset="cpu")
        self.assertEqual((preset, how), (None, "the run's stored settings"))

    def test_stored_field_this_version_does_not_know_is_refused(self):
        with self.assertRaisesRegex(ValueError, r"does not know: \['colour'\]"):
            resolve(given={}, stored={"colour": "red"})

    def test_auto_preset_follows_the_gpu_and_keeps_a_stored_run(self):
        auto = ("paper", "cpu")
        for gpu, name, how in ((True, "paper", "auto: a GPU is visible"),
                               (False, "cpu", "auto: no GPU visible")):
            resolved = resolve(given={}, default_preset="auto", auto=auto, gpu=gpu)
            self.assertEqual(resolved[1:], (name, how))
            resolved = resolve(given={}, preset="auto", auto=auto, gpu=gpu)
            self.assertEqual(resolved[1:], (name, how))
        stored = resolve(given={}, stored={"steps": 3}, preset="auto", auto=auto, gpu=True)
        self.assertEqual(stored.config.steps, 3)

    def test_unknown_preset_or_field_and_config_errors_are_one_line(self):
        with self.assertRaisesRegex(ValueError, r"^`preset`='gpu' is not one of"):
            resolve(given={}, preset="gpu")
        with self.assertRaisesRegex(ValueError, r"Toy has no settings \['colour'\]"):
            resolve(given={"colour": 1})
        with self.assertRaisesRegex(ValueError, r"^`ways` must be at least 2, got 1$"):
            resolve(given={"ways": 1})

    def test_preset_values_of_a_field_for_help_texts(self):
        self.assertEqual(PRESETS["cpu"].values_of("steps"), [10, 20])
        self.assertEqual(PRESETS["paper"].values_of("ways"), [])
        self.assertEqual(PRESETS["cpu"].shown_values("steps"),
                         [(10, None), (20, "algorithm=protonet")])
        self.assertEqual(PRESETS["paper"].rules[0].condition(),
                         "algorithm=maml and ways/shots not 20/1 or 5/1")
        self.assertEqual(PRESETS["paper"].shown_values("steps"),
                         [(1000, None), (2000, "ways/shots=20/1")])


if __name__ == "__main__":
    unittest.main()
