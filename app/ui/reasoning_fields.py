"""The chat settings' reasoning row: its values as settings, and settings as its values.

It chooses whether the chat shows reasoning, the chat's reasoning template, the loaded
model's template, the thinking switch, a reasoning budget and "add to prompts".
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.chat.turns import ModelReasoning
from app.chat.views import SettingChoices
from app.storage.types import THINKING_MODES, ReasoningSettings
from app.ui.chat_parts import AUTO, ReasoningFields

Updates = dict[Any, Any]


def reasoning_settings(values: list[Any]) -> ReasoningSettings:
    """The fields' values (in :meth:`ReasoningFields.inputs` order) as settings."""
    show, template, _model, thinking, budget, add = values
    return ReasoningSettings(
        show=bool(show),
        template=template if template and template != AUTO else None,
        add_to_prompts=max(0, int(add or 0)),
        thinking=thinking if thinking in THINKING_MODES else "auto",
        budget=None if budget is None else max(0, int(budget)),
    )


def model_choice(values: list[Any], choices: SettingChoices) -> ModelReasoning | None:
    """The loaded model's template as the fields set it (None: no model is loaded)."""
    model = choices.model_reasoning
    if model is None:
        return None
    chosen = values[2]
    return ModelReasoning(model.model, chosen if chosen and chosen != AUTO else None, "")


def reasoning_updates(
    fields: ReasoningFields, settings: ReasoningSettings, choices: SettingChoices
) -> Updates:
    """The reasoning fields showing ``settings`` and the loaded model's template."""
    names = choices.reasoning_templates
    model = choices.model_reasoning
    if model is None:
        own: list[tuple[str, str]] = [("No model loaded", AUTO)]
        used = "the model's"
    else:
        own = [(f"Detected: {model.detected}", AUTO), *((n, n) for n in names)]
        kept = model.chosen if model.chosen in names else None  # a removed one is not used
        used = f"the model's: {kept or model.detected}"
    chat_value = settings.template if settings.template in names else AUTO
    model_value = model.chosen if model is not None and model.chosen in names else AUTO
    return {
        fields.show: settings.show,
        fields.template: gr.update(
            choices=[(f"As {used}", AUTO), *((n, n) for n in names)], value=chat_value
        ),
        fields.model_template: gr.update(
            choices=own, value=model_value, interactive=model is not None
        ),
        fields.thinking: settings.thinking,
        fields.budget: settings.budget,
        fields.add_to_prompts: settings.add_to_prompts,
    }
