from pathlib import Path

import pytest

from facert.config import DEFAULT_MAX_PIXELS, load_settings
from facert.errors import UsageError


def test_defaults_follow_xdg_then_home() -> None:
    assert load_settings({"HOME": "/h"}).cache_dir == Path("/h/.cache/facert")
    assert load_settings({"HOME": "/h", "XDG_CACHE_HOME": "/x"}).cache_dir == Path("/x/facert")
    assert load_settings({"HOME": "/h"}).max_pixels == DEFAULT_MAX_PIXELS


def test_environment_overrides() -> None:
    env = {"FACERT_CACHE": "/c", "FACERT_MAX_PIXELS": "1000", "FACERT_THREADS": "2"}
    settings = load_settings(env)
    assert (settings.cache_dir, settings.max_pixels, settings.threads) == (Path("/c"), 1000, 2)


@pytest.mark.parametrize("value", ["ten", "0", "-5"])
def test_bad_pixel_limit_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match="FACERT_MAX_PIXELS"):
        load_settings({"FACERT_MAX_PIXELS": value})
