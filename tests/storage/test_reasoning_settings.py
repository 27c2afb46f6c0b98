"""A chat's reasoning settings as stored: defaults left out, bad values fall back."""

from __future__ import annotations

from app.storage.types import ChatSettings, ReasoningSettings


def test_defaults_store_nothing_and_choices_round_trip() -> None:
    assert ChatSettings().to_json() == {}
    chosen = ChatSettings(
        reasoning=ReasoningSettings(
            show=False, template="Qwen", add_to_prompts=2, thinking="off", budget=0
        )
    )
    stored = chosen.to_json()
    assert stored == {
        "reasoning": {
            "show": False, "template": "Qwen", "add_to_prompts": 2, "thinking": "off", "budget": 0,
        }
    }  # fmt: skip
    assert ChatSettings.from_json(stored) == chosen


def test_values_of_the_wrong_type_fall_back_and_unknown_keys_stay_elsewhere() -> None:
    read = ChatSettings.from_json(
        {"reasoning": {"show": "no", "thinking": "maybe", "budget": "64", "add_to_prompts": -3},
         "x_future": 1}
    )  # fmt: skip
    assert read.reasoning == ReasoningSettings(show=True, budget=64, add_to_prompts=0)
    assert read.other == {"x_future": 1}
    assert ChatSettings.from_json({"reasoning": "bad"}).reasoning == ReasoningSettings()
