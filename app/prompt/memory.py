"""Long-term memory in the prompt: the memories block and where it goes (pure code).

The chat layer recalls chunks of messages that left the context; this module renders
them through a Jinja2 template in the sandbox.  The block is one of SillyTavern's
extension prompts (``3_vectors``, as its Vector Storage names it), placed after the
story string, before the prompt, or in the chat at a depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.prompt.formats import PromptPosition, Role
from app.prompt.sandbox import TemplateSandbox

#: The extension-prompt key of recalled memories (SillyTavern Vector Storage's).
RECALL_KEY = "3_vectors"
#: The extension-prompt key of the story so far (SillyTavern Summarize's).
STORY_KEY = "1_memory"

#: The default memories block: SillyTavern's "Past events" with one memory a line.
DEFAULT_TEMPLATE = (
    "[Past events, recalled from earlier in this chat:\n"
    "{% for memory in memories %}- {{ memory }}\n{% endfor %}]"
)

#: The story so far: summaries of what left the context, oldest first, and the user's
#: pinned facts.
STORY_TEMPLATE = (
    "{% if summaries %}[Story so far:\n{% for summary in summaries %}{{ summary }}\n"
    "{% endfor %}]{% endif %}"
    "{% if facts %}{% if summaries %}\n{% endif %}[Facts to remember:\n"
    "{% for fact in facts %}- {{ fact }}\n{% endfor %}]{% endif %}"
)


@dataclass(frozen=True)
class MemoryPrompt:
    """The memories block of one prompt and its placement (empty text: none), and the
    story so far (after the story string)."""

    recalled: str = ""
    story: str = ""
    position: PromptPosition = PromptPosition.IN_CHAT
    depth: int = 2
    role: Role = Role.SYSTEM


def render_memories(sandbox: TemplateSandbox, template: str, memories: Sequence[str]) -> str:
    """The memories block for ``memories`` (oldest first); empty when there are none."""
    if not memories:
        return ""
    source = template or DEFAULT_TEMPLATE
    return sandbox.render(source, name="memory template", memories=list(memories)).strip()


def render_story(sandbox: TemplateSandbox, summaries: Sequence[str], facts: Sequence[str]) -> str:
    """The story-so-far block; empty when there are neither summaries nor facts."""
    if not summaries and not facts:
        return ""
    text = sandbox.render(
        STORY_TEMPLATE, name="story so far", summaries=list(summaries), facts=list(facts)
    )
    return text.strip()
