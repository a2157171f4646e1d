"""serving.images: the support set's polarity against the run's (numpy only)."""

import numpy as np
import pytest

from serving import images


def _digits(background: float, ink: float, n: int = 3) -> np.ndarray:
    x = np.full([n, 12, 12, 1], background, np.float32)
    x[:, 3:9, 5:7] = ink          # a stroke away from the border
    return x


def test_border_level_is_the_median_of_the_frame_not_of_the_stroke():
    x = _digits(-1.0, 1.0)
    x[:, 0, :3] = 1.0             # a few bright border pixels do not move the median
    assert images.border_level(x) == -1.0
    assert images.border_level(_digits(0.9, -1.0)) == pytest.approx(0.9)
    assert images.background_of(_digits(-1.0, 1.0)) == "dark"
    assert images.background_of(_digits(0.8, -1.0)) == "light"
    assert images.background_of(np.random.default_rng(0).uniform(-1, 1, [4, 8, 8, 3])) == "any"


def test_opposite_background_is_inverted_same_is_kept_and_any_is_left_alone():
    bright_on_dark, dark_on_light = _digits(-1.0, 1.0), _digits(0.9, -0.9)
    got, note = images.matched_support(dark_on_light, "dark")
    np.testing.assert_array_equal(got, -dark_on_light)
    assert note == "light background: inverted to the run's dark one"
    got, note = images.matched_support(bright_on_dark, "dark")
    np.testing.assert_array_equal(got, bright_on_dark)
    assert note == "dark background, as the run's data"
    got, note = images.matched_support(bright_on_dark, "light")
    np.testing.assert_array_equal(got, -bright_on_dark)
    assert note == "dark background: inverted to the run's light one"
    got, note = images.matched_support(dark_on_light, "any")
    np.testing.assert_array_equal(got, dark_on_light)
    assert note == "as read (the run's data has no clear background)"


def test_an_explicit_choice_wins_and_an_unclear_border_is_refused_in_one_line():
    grey = _digits(0.1, 1.0)
    np.testing.assert_array_equal(images.matched_support(grey, "dark", invert=True)[0], -grey)
    np.testing.assert_array_equal(images.matched_support(grey, "dark", invert=False)[0], grey)
    with pytest.raises(ValueError) as error:
        images.matched_support(grey, "dark")
    assert str(error.value) == (
        "cannot tell the support images' background: the median of their border is 0.10 on "
        "[-1, 1], neither dark nor light (the run's data has a dark background); say whether "
        "to invert them (--invert or --noinvert)")
    with pytest.raises(ValueError, match="background must be one of dark, light, any, got 'grey'"):
        images.matched_support(grey, "grey")
    with pytest.raises(ValueError, match=r"expected images \[n, H >= 2, W >= 2, C\]"):
        images.border_level(np.zeros([2, 1, 5, 1]))
