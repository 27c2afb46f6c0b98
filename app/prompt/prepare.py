"""Prompt ingredients shared by every format: card fields, lore, notes, story string.

This is the first half of ST's ``Generate()`` (§6.1 steps 1–12): it resolves the
card fields and system prompt, runs World Info, builds the Author's Note,
character's note and persona injections, renders the story string and splices
the in-chat injections and post-history instructions into the history.
:mod:`app.prompt.assemble` turns the result into text.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from app.prompt.formats import InstructTemplate, PromptFormat, PromptPosition, Role
from app.prompt.group import joined_cards, member_depth_prompts
from app.prompt.handlebars import HandlebarsTemplate
from app.prompt.instruct import format_examples, format_story_string, parse_mes_examples
from app.prompt.macros import MacroEngine, MacroEnv
from app.prompt.memory import RECALL_KEY, STORY_KEY
from app.prompt.reasoning import add_reasoning
from app.prompt.sandbox import TemplateSandbox
from app.prompt.types import ChatMessage, PersonaPosition, PromptRequest, TokenCounter
from app.prompt.worldinfo import WIPosition, WIResult, WIScanData, WorldInfoScanner

_INJECTION_KEYS = {
    "an": "2_floating_prompt",
    "depth": "DEPTH_PROMPT",
    "persona": "PERSONA_DESCRIPTION",
}


@dataclass
class Msg:
    """A message on its way into the prompt (history, injection or filler)."""

    name: str | None
    mes: str
    is_user: bool
    narrator: bool = False
    force_avatar: bool = False
    kind: str = "message"
    index: int | None = None


@dataclass(frozen=True)
class ExtensionPrompt:
    """ST's ``extension_prompts`` entry: text placed by position, depth and role."""

    key: str
    value: str
    position: PromptPosition
    depth: int = 0
    role: Role = Role.SYSTEM


@dataclass
class Prepared:
    """The ingredients of one prompt, before formatting and trimming."""

    story: str
    examples: list[str]
    messages: list[Msg]
    name1: str
    name2: str
    sub: Callable[[str], str]
    prompt_bias: str
    force_name2: bool
    max_prompt: int
    wi: WIResult
    chat_start: str = ""
    extension_prompts: list[ExtensionPrompt] = field(default_factory=list)
    #: The memories block and the story so far as the prompt holds them ("": none).
    memories: str = ""
    story_so_far: str = ""


def _collapse(text: str) -> str:
    return re.sub(r"\n+", "\n", text)


class Preparer:
    """Builds :class:`Prepared` for a request (one instance per build call)."""

    def __init__(
        self,
        request: PromptRequest,
        *,
        count_tokens: TokenCounter,
        macros: MacroEngine,
        rng: random.Random,
        sandbox: TemplateSandbox,
        handlebars: Callable[[str, str], HandlebarsTemplate],
    ) -> None:
        self.req = request
        self.fmt: PromptFormat = request.format
        self.ins: InstructTemplate | None = request.format.instruct
        self.count_tokens = count_tokens
        self.macros = macros
        self.rng = rng
        self.sandbox = sandbox
        self.handlebars = handlebars
        self.name1 = request.persona.name
        self.name2 = request.character.name
        self.env = self._group_env(MacroEnv(user=self.name1, char=self.name2), join=False)
        self.prompts: list[ExtensionPrompt] = []

    # -- macros -------------------------------------------------------------------

    def sub(self, text: str, original: str | None = None) -> str:
        """``substituteParams`` with this chat's environment."""
        return self.macros.substitute(text, self.env, original=original)

    def base_replace(self, text: str) -> str:
        """``baseChatReplace``: names but not card fields, optional collapse, no ``\\r``."""
        return self.member_replace(text, self.name2)

    def build_env(self) -> None:
        """Resolve the card fields into the macro environment (``getCharacterCardFields``)."""
        card, history = self.req.character, self.req.history
        settings = self.req.settings
        clean = self.base_replace
        prompt = self.base_replace(card.system_prompt.strip())
        jailbreak = self.base_replace(card.post_history_instructions.strip())
        last_user = next((m for m in reversed(history) if m.is_user and not m.hidden), None)
        last_char = next((m for m in reversed(history) if not m.is_user and not m.hidden), None)
        self.env = MacroEnv(
            user=self.name1,
            char=self.name2,
            char_prompt=prompt if settings.prefer_character_prompt else "",
            char_instruction=jailbreak if settings.prefer_character_jailbreak else "",
            char_version=card.version,
            model=self.req.model.name,
            last_message=history[-1].text if history else "",
            last_message_id=len(history) - 1 if history else None,
            last_user_message=last_user.text if last_user else "",
            last_char_message=last_char.text if last_char else "",
            idle_since=_idle_since(history),
            max_prompt=self.req.n_ctx - self.req.max_new_tokens,
            chat_id=self.req.chat_id,
            pick_reroll_seed=self.req.pick_reroll_seed,
            instruct=self._instruct_macros(),
            description=clean(card.description.strip()),
            personality=clean(card.personality.strip()),
            scenario=clean(card.scenario.strip()),
            persona=clean(self.req.persona.description.strip()),
            mes_examples=clean(card.examples.strip()),
            char_depth_prompt=clean(card.depth_prompt.text.strip()),
            creator_notes=clean(card.creator_notes.strip()),
        )
        self.env = self._group_env(self.env, join=True)

    def _group_env(self, env: MacroEnv, *, join: bool) -> MacroEnv:
        """``env`` with the group macros and, in join mode, every member's card fields."""
        group = self.req.group
        if group is None:
            return env
        env = replace(
            env,
            group=", ".join(group.names()),
            group_not_muted=", ".join(group.unmuted_names()),
            not_char=group.not_char(self.name2, self.name1),
        )
        if group.mode == "swap" or not join:
            return env
        self.env = env  # the members' fields see the group macros too
        wrap = self.ins.wrap if self.ins is not None else False
        cards = joined_cards(group, self.name2, self.member_replace, wrap=wrap)
        return replace(
            env,
            description=cards.description,
            personality=cards.personality,
            scenario=cards.scenario,
            mes_examples=cards.examples,
        )

    def member_replace(self, text: str, name: str) -> str:
        """``baseChatReplace`` with ``{{char}}`` as the group member called ``name``."""
        if not text:
            return text
        member = replace(self.env, char=name)
        text = self.macros.substitute(text, member, card=False)
        if self.req.settings.collapse_newlines:
            text = _collapse(text)
        return text.replace("\r", "")

    def _instruct_macros(self) -> dict[str, str]:
        ins, ctx = self.ins, self.fmt.context
        sp = self.req.settings.system_prompt or self.fmt.system_prompt
        values: dict[str, str] = {}
        pairs = {
            "instructStoryStringPrefix": "story_string_prefix",
            "instructStoryStringSuffix": "story_string_suffix",
            "instructInput": "input_sequence",
            "instructUserPrefix": "input_sequence",
            "instructUserSuffix": "input_suffix",
            "instructOutput": "output_sequence",
            "instructAssistantPrefix": "output_sequence",
            "instructSeparator": "output_suffix",
            "instructAssistantSuffix": "output_suffix",
            "instructSystemPrefix": "system_sequence",
            "instructSystemSuffix": "system_suffix",
            "instructSystemInstructionPrefix": "last_system_sequence",
            "instructStop": "stop_sequence",
            "instructUserFiller": "user_alignment_message",
        }
        for macro, attr in pairs.items():
            values[macro] = str(getattr(ins, attr)) if ins is not None else ""
        fallbacks = {
            "instructFirstOutput": ("first_output_sequence", "output_sequence"),
            "instructFirstAssistantPrefix": ("first_output_sequence", "output_sequence"),
            "instructLastOutput": ("last_output_sequence", "output_sequence"),
            "instructLastAssistantPrefix": ("last_output_sequence", "output_sequence"),
            "instructFirstInput": ("first_input_sequence", "input_sequence"),
            "instructFirstUserPrefix": ("first_input_sequence", "input_sequence"),
            "instructLastInput": ("last_input_sequence", "input_sequence"),
            "instructLastUserPrefix": ("last_input_sequence", "input_sequence"),
        }
        for macro, (first, second) in fallbacks.items():
            values[macro] = (getattr(ins, first) or getattr(ins, second)) if ins else ""
        for macro in ("systemPrompt", "defaultSystemPrompt", "instructSystemPrompt"):
            values[macro] = sp.content if self.req.settings.sysprompt_enabled else ""
        values["exampleSeparator"] = values["chatSeparator"] = ctx.example_separator
        values["chatStart"] = ctx.chat_start
        return values

    # -- the steps ----------------------------------------------------------------

    def prepare(self) -> Prepared:
        """Run ST's ``Generate()`` up to the formatting of the history."""
        req, ctx = self.req, self.fmt.context
        core = self._core_messages()
        self.build_env()
        if core and core[0].index == 0:
            core[0].mes = self.sub(core[0].mes)
        continuing = req.generation == "continue"
        self._add_reasoning(core, continuing)
        bias = (
            "" if req.generation in ("continue", "impersonate") else req.settings.start_reply_with
        )
        bias = self.sub(bias)
        max_prompt = req.n_ctx - req.max_new_tokens
        force_name2 = req.generation != "impersonate" and ctx.always_force_name2
        an_active, an_text = self._author_note()
        wi = self._world_info(core, max_prompt, an_active, an_text)
        examples, raw_examples = self._examples(wi)
        self._injections(wi, an_active, an_text)
        system = self._system_prompt()
        story = self._story_string(system, wi, examples, raw_examples)
        if req.settings.strip_examples:
            examples = []
        self._inject(core, continuing)
        self._post_history(core, continuing)
        chat_start = self.sub(ctx.chat_start + "\n") if ctx.chat_start else ""
        return Prepared(
            story=story,
            examples=examples,
            messages=core,
            name1=self.name1,
            name2=self.name2,
            sub=self.sub,
            prompt_bias=bias,
            force_name2=force_name2,
            max_prompt=max_prompt,
            wi=wi,
            chat_start=chat_start,
            extension_prompts=self.prompts,
            memories=self.as_written(req.memory.recalled),
            story_so_far=self.as_written(req.memory.story),
        )

    def _core_messages(self) -> list[Msg]:
        core = [
            Msg(m.name, m.text, m.is_user, m.narrator, m.force_avatar, "message", i)
            for i, m in enumerate(self.req.history)
            if not m.hidden and i >= self.req.history_start
        ]
        if self.req.generation in ("swipe", "regenerate") and core and not core[-1].is_user:
            core.pop()
        return core

    def _add_reasoning(self, core: list[Msg], continuing: bool) -> None:
        """SillyTavern's "add to prompts": past reasoning back in, per the settings."""
        history = self.req.history
        reasonings = [history[m.index].reasoning if m.index is not None else "" for m in core]
        texts = add_reasoning(
            [m.mes for m in core], reasonings, self.req.reasoning,
            continuing=continuing, substitute=self.sub,
        )  # fmt: skip
        for msg, text in zip(core, texts, strict=True):
            msg.mes = text

    def _author_note(self) -> tuple[bool, str]:
        note = self.req.author_note
        user_count = sum(1 for m in self.req.history if m.is_user)
        if user_count <= 0 or note.interval <= 0:
            return False, ""
        if user_count >= note.interval:
            till = user_count % note.interval
        else:
            till = note.interval - user_count
        return (True, note.text) if till == 0 else (False, "")

    def _world_info(self, core: list[Msg], max_prompt: int, an_active: bool, an: str) -> WIResult:
        req, wis = self.req, self.req.settings.world_info
        if not req.lore:
            return WIResult()
        chat = [f"{m.name}: {m.mes}" if wis.include_names else m.mes for m in core]
        chat.reverse()
        injections: list[str] = []
        if req.settings.scan_injections:
            if an_active and an:
                injections.append(self.sub(an))
            if self.env.char_depth_prompt:
                injections.append(self.sub(self.env.char_depth_prompt))
        persona = req.persona
        if persona.description and persona.position == PersonaPosition.AT_DEPTH:
            injections.append(self.sub(persona.description))
        scanner = WorldInfoScanner(
            settings=wis,
            count_tokens=self.count_tokens,
            rng=self.rng,
            substitute=self.sub,
            sticky=req.lore_sticky,
            cooldown=req.lore_cooldown,
        )
        data = WIScanData(
            persona_description=self.env.persona,
            character_description=self.env.description,
            character_personality=self.env.personality,
            character_depth_prompt=self.env.char_depth_prompt,
            scenario=self.env.scenario,
            creator_notes=self.env.creator_notes,
            trigger=req.generation,
        )
        result = scanner.scan(
            req.lore,
            chat,
            max_context=max_prompt,
            data=data,
            injections=injections,
            chat_length=len(chat),
        )
        self.env = _with_outlets(self.env, result)
        return result

    def _heading(self) -> str:
        if self.ins is not None:
            return "<START>\n"
        separator = self.fmt.context.example_separator
        return f"{self.sub(separator)}\n" if separator else ""

    def _examples(self, wi: WIResult) -> tuple[list[str], list[str]]:
        heading = self._heading()
        examples = parse_mes_examples(self.env.mes_examples, heading=heading)
        for position, content in wi.examples:
            cleaned = parse_mes_examples(self.base_replace(content), heading=heading)
            if position == WIPosition.EM_TOP:
                examples[0:0] = cleaned
            else:
                examples.extend(cleaned)
        raw = list(examples)
        if self.ins is not None:
            examples = format_examples(
                self.ins,
                self.fmt.context,
                examples,
                user=self.name1,
                char=self.name2,
                subst=self.sub,
                group=self.req.group is not None,
            )
        return examples, raw

    def _injections(self, wi: WIResult, an_active: bool, an_text: str) -> None:
        req, persona = self.req, self.req.persona
        for item in wi.depth:
            key = f"customDepthWI_{item.depth}_{int(item.role)}"
            self._add(key, "\n".join(item.entries), PromptPosition.IN_CHAT, item.depth, item.role)
        if an_active:
            an_text = f"{chr(10).join(wi.an_top)}\n{an_text}\n{chr(10).join(wi.an_bottom)}"
            an_text = re.sub(r"^\n", "", an_text, count=1)
            an_text = re.sub(r"\n$", "", an_text, count=1)
            if persona.description and persona.position == PersonaPosition.TOP_AN:
                an_text = f"{persona.description}\n{an_text}"
            elif persona.description and persona.position == PersonaPosition.BOTTOM_AN:
                an_text = f"{an_text}\n{persona.description}"
        note = req.author_note
        self._add(_INJECTION_KEYS["an"], an_text, note.position, note.depth, note.role)
        self._depth_prompts()
        memory = req.memory
        self._add(RECALL_KEY, memory.recalled, memory.position, memory.depth, memory.role)
        self._add(STORY_KEY, memory.story, PromptPosition.IN_PROMPT, 0, Role.SYSTEM)
        if persona.description and persona.position == PersonaPosition.AT_DEPTH:
            self._add(
                _INJECTION_KEYS["persona"],
                persona.description,
                PromptPosition.IN_CHAT,
                persona.depth,
                persona.role,
            )

    def _depth_prompts(self) -> None:
        """The speaker's note; in a join-mode group, every included member's."""
        group = self.req.group
        notes = member_depth_prompts(group, self.name2, self.member_replace) if group else []
        if notes:
            for index, note in enumerate(notes):
                key = f"{_INJECTION_KEYS['depth']}_{index}"
                self._add(key, note.text, PromptPosition.IN_CHAT, note.depth, note.role)
            return
        depth_prompt = self.req.character.depth_prompt
        self._add(
            _INJECTION_KEYS["depth"],
            self.env.char_depth_prompt,
            PromptPosition.IN_CHAT,
            depth_prompt.depth,
            depth_prompt.role,
        )

    def _add(self, key: str, value: str, position: PromptPosition, depth: int, role: Role) -> None:
        if value:
            self.prompts.append(ExtensionPrompt(key, value, position, depth, role))

    def extension_text(self, position: PromptPosition, depth: int | None, role: Role | None) -> str:
        """``getExtensionPrompt`` without wrapping: matching prompts, trimmed and joined."""
        chosen = sorted(
            (
                p
                for p in self.prompts
                if p.position == position
                and (depth is None or p.depth == depth)
                and (role is None or p.role == role)
            ),
            key=lambda p: p.key,
        )
        text = "\n".join(p.value.strip() for p in chosen)
        return self.sub(text) if text else ""

    def as_written(self, text: str) -> str:
        """``text`` as an extension prompt writes it into the prompt: trimmed, macros
        expanded.  The dice are left as they were, so the prompt itself is unchanged."""
        text = text.strip()
        if not text:
            return ""
        dice = self.rng.getstate()
        try:
            return self.sub(text)
        finally:
            self.rng.setstate(dice)

    def _system_prompt(self) -> str:
        settings = self.req.settings
        if not settings.sysprompt_enabled:
            return ""
        content = (settings.system_prompt or self.fmt.system_prompt).content
        if settings.prefer_character_prompt and self.env.char_prompt:
            system = self.sub(self.env.char_prompt, original=content)
        else:
            system = self.base_replace(content)
        return self.sub(system, original=content) if self.ins is not None else system

    def _story_string(
        self, system: str, wi: WIResult, examples: list[str], raw_examples: list[str]
    ) -> str:
        ctx, env = self.fmt.context, self.env
        in_prompt = self.req.persona.position == PersonaPosition.IN_PROMPT
        params: dict[str, object] = {
            "description": env.description,
            "personality": env.personality,
            "persona": env.persona if in_prompt else "",
            "scenario": env.scenario,
            "system": system,
            "char": self.name2,
            "user": self.name1,
            "wiBefore": wi.before,
            "wiAfter": wi.after,
            "loreBefore": wi.before,
            "loreAfter": wi.after,
            "anchorBefore": self.extension_text(PromptPosition.BEFORE_PROMPT, None, None).strip(),
            "anchorAfter": self.extension_text(PromptPosition.IN_PROMPT, None, None).strip(),
            "mesExamples": "".join(examples),
            "mesExamplesRaw": "".join(raw_examples),
        }
        output = self.sub(self._render_story(params))
        output = re.sub(r"^\n+", "", output)
        in_chat = ctx.story_string_position == PromptPosition.IN_CHAT
        ins = self.ins
        needs_newline = ins is None or (ins.wrap and not ins.story_string_suffix)
        if output and not output.endswith("\n") and not in_chat and needs_newline:
            output += "\n"
        combined = format_story_string(ins, ctx, output, self.sub) if ins else output
        if in_chat:
            role = Role(ctx.story_string_role)
            self._add(
                "__STORY_STRING__", combined, PromptPosition.IN_CHAT, ctx.story_string_depth, role
            )
            return ""
        return combined

    def _render_story(self, params: dict[str, object]) -> str:
        ctx = self.fmt.context
        name = self.fmt.source or f"{self.fmt.name} story string"
        if ctx.story_string_syntax == "jinja":
            return self.sandbox.render(ctx.story_string, name=name, trim="{{trim}}", **params)
        return self.handlebars(ctx.story_string, name).render(params)

    def _inject(self, core: list[Msg], continuing: bool) -> None:
        """``doChatInject``: splice in-chat prompts in at their depth (newest = 0)."""
        in_chat = [p for p in self.prompts if p.position == PromptPosition.IN_CHAT]
        if not in_chat:
            return
        names = {Role.SYSTEM: "", Role.USER: self.name1, Role.ASSISTANT: self.name2}
        messages = list(reversed(core))
        inserted = 0
        for depth in range(max(p.depth for p in in_chat) + 1):
            batch: list[Msg] = []
            for role in (Role.SYSTEM, Role.USER, Role.ASSISTANT):
                text = self.extension_text(PromptPosition.IN_CHAT, depth, role).lstrip()
                if text:
                    batch.append(
                        Msg(
                            names[role],
                            text,
                            role == Role.USER,
                            role == Role.SYSTEM,
                            kind="injection",
                        )
                    )
            if batch:
                at = min((1 if continuing and depth == 0 else depth) + inserted, len(messages))
                messages[at:at] = batch
                inserted += len(batch)
        core[:] = list(reversed(messages))

    def _post_history(self, core: list[Msg], continuing: bool) -> None:
        settings = self.req.settings
        if not settings.sysprompt_enabled or not self.fmt.context.allow_jailbreak:
            return
        post_history = (settings.system_prompt or self.fmt.system_prompt).post_history
        if settings.prefer_character_jailbreak and self.env.char_instruction:
            text = self.sub(self.env.char_instruction, original=post_history)
        else:
            text = self.base_replace(post_history)
        if not text:
            return
        message = Msg(None, text, True, kind="post_history")
        if continuing:
            core.insert(len(core) - 1, message)
        else:
            core.append(message)


def _idle_since(history: Sequence[ChatMessage]) -> datetime | None:
    """When the user last wrote, not counting the newest message (ST's idle duration)."""
    take_next = False
    for message in reversed(history):
        if message.hidden:
            continue
        if message.is_user and take_next:
            return message.sent_at
        take_next = True
    return None


def _with_outlets(env: MacroEnv, wi: WIResult) -> MacroEnv:
    return replace(env, outlets=dict(wi.outlets)) if wi.outlets else env
