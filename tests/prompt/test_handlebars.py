"""The Handlebars subset of ST story strings."""

from __future__ import annotations

import pytest

from app.errors import TemplateError
from app.prompt.handlebars import HandlebarsTemplate


def render(source: str, **params: object) -> str:
    return HandlebarsTemplate(source, name="story.json").render(params)


def test_if_renders_only_filled_fields() -> None:
    source = "{{#if system}}{{system}}\n{{/if}}{{#if description}}{{description}}\n{{/if}}{{trim}}"
    assert render(source, system="SYS", description="") == "SYS\n{{trim}}"
    assert render(source, system="", description="D") == "D\n{{trim}}"


def test_else_unless_and_else_if() -> None:
    source = "{{#if a}}A{{else if b}}B{{else}}C{{/if}}|{{#unless a}}not a{{/unless}}"
    assert render(source, a="x", b="") == "A|"
    assert render(source, a="", b="y") == "B|not a"
    assert render(source, a="", b="") == "C|not a"


def test_dreamgen_style_else_uses_macros() -> None:
    source = (
        "{{#if scenario}}{{scenario}}{{else}}Conversation between {{char}} and {{user}}.{{/if}}"
    )
    assert (
        render(source, scenario="", char="Ann", user="Bob") == "Conversation between Ann and Bob."
    )


def test_unknown_mustaches_are_left_for_the_macro_pass() -> None:
    assert (
        render("{{random::a::b}} {{notAParam}} {{// hi}}")
        == "{{random::a::b}} {{notAParam}} {{// hi}}"
    )


def test_values_are_not_escaped_or_evaluated() -> None:
    assert render("{{x}}", x="<b>&{{#if y}}") == "<b>&{{#if y}}"


def test_standalone_block_lines_are_removed() -> None:
    source = "Start\n{{#if a}}\nA line\n{{/if}}\nEnd"
    assert render(source, a="1") == "Start\nA line\nEnd"
    assert render(source, a="") == "Start\nEnd"


def test_tilde_and_comments() -> None:
    assert render("a {{~#if x~}} b {{~/if~}} c{{! note }}{{!-- {{x}} --}}", x="1") == "abc"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{#if a}}open", "unclosed"),
        ("{{/if}}", "without an opening"),
        ("{{#each items}}x{{/each}}", "unsupported block helper"),
        ("{{#if a}}x{{/unless}}", "closes"),
        ("{{#if}}x{{/if}}", "exactly one parameter"),
    ],
)
def test_malformed_templates_name_the_file(source: str, problem: str) -> None:
    with pytest.raises(TemplateError) as info:
        HandlebarsTemplate(source, name="ctx/My Story.json")
    assert str(info.value).startswith("ctx/My Story.json: ")
    assert problem in str(info.value)
