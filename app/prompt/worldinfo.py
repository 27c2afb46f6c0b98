"""World Info (lorebook) activation, ported from ST's ``checkWorldInfo`` (§1.6).

Pure code over :class:`WIEntry`; another layer converts stored lorebooks (card
``character_book`` or ST world files) into entries.  Token counting and the
probability / inclusion-group dice come in from the caller.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Literal

from app.prompt.formats import Role

MAX_SCAN_DEPTH = 1000
_REGEX_KEY = re.compile(r"^/([\w\W]+?)/([gimsuy]*)$")
_KNOWN_DECORATORS = ("@@activate", "@@dont_activate")

LoreSource = Literal["chat", "persona", "character", "global"]


class SelectiveLogic(IntEnum):
    """``world_info_logic``: how secondary keys combine."""

    AND_ANY = 0
    NOT_ALL = 1
    NOT_ANY = 2
    AND_ALL = 3


class WIPosition(IntEnum):
    """``world_info_position``: where an activated entry's content goes."""

    BEFORE = 0
    AFTER = 1
    AN_TOP = 2
    AN_BOTTOM = 3
    AT_DEPTH = 4
    EM_TOP = 5
    EM_BOTTOM = 6
    OUTLET = 7


@dataclass(frozen=True)
class WIEntry:
    """One World Info entry (ST's ``newWorldInfoEntryDefinition``, snake_case)."""

    uid: int | str
    keys: tuple[str, ...] = ()
    content: str = ""
    secondary_keys: tuple[str, ...] = ()
    comment: str = ""
    constant: bool = False
    selective: bool = True
    selective_logic: SelectiveLogic = SelectiveLogic.AND_ANY
    order: int = 100
    position: WIPosition = WIPosition.BEFORE
    depth: int = 4
    role: Role = Role.SYSTEM
    enabled: bool = True
    probability: int = 100
    use_probability: bool = True
    scan_depth: int | None = None
    case_sensitive: bool | None = None
    match_whole_words: bool | None = None
    use_group_scoring: bool | None = None
    group: str = ""
    group_override: bool = False
    group_weight: int = 100
    exclude_recursion: bool = False
    prevent_recursion: bool = False
    delay_until_recursion: int = 0
    ignore_budget: bool = False
    match_persona_description: bool = False
    match_character_description: bool = False
    match_character_personality: bool = False
    match_character_depth_prompt: bool = False
    match_scenario: bool = False
    match_creator_notes: bool = False
    triggers: tuple[str, ...] = ()
    delay: int = 0
    outlet_name: str = ""
    source: LoreSource = "character"
    world: str = ""
    #: Activated by similarity to the chat (long-term memory), as well as by its keys.
    vectorized: bool = False

    @property
    def key_id(self) -> str:
        """``world.uid``: identifies the entry across scans (sticky/cooldown state)."""
        return f"{self.world}.{self.uid}"


@dataclass(frozen=True)
class WISettings:
    """Global World Info settings (``world_info_settings`` defaults of ST 1.18)."""

    depth: int = 2
    budget_percent: int = 25
    budget_cap: int = 0
    include_names: bool = True
    recursive: bool = True
    case_sensitive: bool = False
    match_whole_words: bool = True
    use_group_scoring: bool = False
    character_strategy: int = 1
    max_recursion_steps: int = 0
    min_activations: int = 0
    min_activations_depth_max: int = 0


@dataclass(frozen=True)
class WIScanData:
    """Chat-independent texts an entry may also scan (its ``match*`` flags)."""

    persona_description: str = ""
    character_description: str = ""
    character_personality: str = ""
    character_depth_prompt: str = ""
    scenario: str = ""
    creator_notes: str = ""
    trigger: str = "normal"


@dataclass(frozen=True)
class DepthInjection:
    """Activated @D entries of one depth and role, in prompt order."""

    depth: int
    role: Role
    entries: tuple[str, ...]


@dataclass(frozen=True)
class WIResult:
    """Activated World Info, sorted into its prompt positions."""

    before: str = ""
    after: str = ""
    examples: tuple[tuple[WIPosition, str], ...] = ()
    depth: tuple[DepthInjection, ...] = ()
    an_top: tuple[str, ...] = ()
    an_bottom: tuple[str, ...] = ()
    outlets: Mapping[str, str] = field(default_factory=dict)
    activated: tuple[WIEntry, ...] = ()


def parse_regex_key(key: str) -> re.Pattern[str] | None:
    """ST's ``parseRegexFromString``: ``/pattern/flags`` as a regex, else ``None``."""
    match = _REGEX_KEY.match(key)
    if match is None:
        return None
    pattern, flags = match[1], match[2]
    if re.search(r"(^|[^\\])/", pattern):
        return None
    pattern = pattern.replace("\\/", "/", 1)
    pattern = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", pattern)
    py_flags = 0
    for flag, value in (("i", re.IGNORECASE), ("m", re.MULTILINE), ("s", re.DOTALL)):
        if flag in flags:
            py_flags |= value
    try:
        return re.compile(pattern, py_flags)
    except re.error:
        return None


def parse_decorators(content: str) -> tuple[tuple[str, ...], str]:
    """Split leading ``@@activate`` / ``@@dont_activate`` lines off an entry's content."""
    if not content.startswith("@@"):
        return (), content
    decorators: list[str] = []
    lines = content.split("\n")
    fallback = False
    for index, line in enumerate(lines):
        if not line.startswith("@@"):
            return tuple(decorators), "\n".join(lines[index:])
        if line.startswith("@@@") and not fallback:
            continue
        name = line[1:] if line.startswith("@@@") else line
        if name.startswith(_KNOWN_DECORATORS):
            decorators.append(name)
            fallback = False
        else:
            fallback = True
    return tuple(decorators), content


class _Buffer:
    """``WorldInfoBuffer``: the scanned text for an entry at the current state."""

    def __init__(self, messages: Sequence[str], data: WIScanData, settings: WISettings) -> None:
        self._depth = [m.strip() for m in messages[:MAX_SCAN_DEPTH]]
        self._data = data
        self._settings = settings
        self.recurse: list[str] = []
        self.inject: list[str] = []
        self.skew = 0
        self._regex_keys: dict[str, re.Pattern[str] | None] = {}
        self._words: dict[str, re.Pattern[str]] = {}
        self._lowered: tuple[str, str] = ("", "")

    def get(self, entry: WIEntry, state: str) -> str:
        """The text ``entry`` scans: messages to its depth, card texts, injections, recursion."""
        depth = entry.scan_depth if entry.scan_depth is not None else self.depth()
        if depth <= 0:
            return "\x01" + "\n\x01".join(self.inject) if depth == 0 and self.inject else ""
        joiner = "\n\x01"
        result = "\x01" + joiner.join(self._depth[: min(depth, MAX_SCAN_DEPTH)])
        data = self._data
        for flag, text in (
            (entry.match_persona_description, data.persona_description),
            (entry.match_character_description, data.character_description),
            (entry.match_character_personality, data.character_personality),
            (entry.match_character_depth_prompt, data.character_depth_prompt),
            (entry.match_scenario, data.scenario),
            (entry.match_creator_notes, data.creator_notes),
        ):
            if flag and text:
                result += joiner + text
        if self.inject:
            result += joiner + joiner.join(self.inject)
        if self.recurse and state != "min_activations":
            result += joiner + joiner.join(self.recurse)
        return result

    def depth(self) -> int:
        """The global scan depth plus the min-activations skew."""
        return self._settings.depth + self.skew

    def match(self, haystack: str, needle: str, entry: WIEntry) -> bool:
        """``matchKeys``: a regex key, or a plain key with the case/whole-word options."""
        if needle not in self._regex_keys:
            self._regex_keys[needle] = parse_regex_key(needle)
        regex = self._regex_keys[needle]
        if regex is not None:
            return regex.search(haystack) is not None
        case = entry.case_sensitive
        if case is None:
            case = self._settings.case_sensitive
        if not case:
            haystack, needle = self._lower(haystack), needle.lower()
        whole = entry.match_whole_words
        if whole is None:
            whole = self._settings.match_whole_words
        if whole and len(needle.split()) <= 1:
            pattern = self._words.get(needle)
            if pattern is None:
                pattern = re.compile(r"(?:^|\W)(" + re.escape(needle) + r")(?:$|\W)")
                self._words[needle] = pattern
            return pattern.search(haystack) is not None
        return needle in haystack

    def _lower(self, text: str) -> str:
        if self._lowered[0] is not text:
            self._lowered = (text, text.lower())
        return self._lowered[1]


@dataclass
class WorldInfoScanner:
    """Runs one activation scan; dice and token counting are injected."""

    settings: WISettings
    count_tokens: Callable[[str], int]
    rng: random.Random
    substitute: Callable[[str], str] = lambda text: text
    sticky: frozenset[str] = frozenset()
    cooldown: frozenset[str] = frozenset()

    def scan(
        self,
        entries: Sequence[WIEntry],
        chat_newest_first: Sequence[str],
        *,
        max_context: int,
        data: WIScanData = WIScanData(),
        injections: Sequence[str] = (),
        chat_length: int = 0,
    ) -> WIResult:
        """Activate entries for a chat given newest message first; see ST ``checkWorldInfo``."""
        ordered = sort_entries(entries, self.settings.character_strategy)
        if not ordered:
            return WIResult()
        buffer = _Buffer(chat_newest_first, data, self.settings)
        buffer.inject.extend(i for i in injections if i)
        budget = round(self.settings.budget_percent * max_context / 100) or 1
        if 0 < self.settings.budget_cap < budget:
            budget = self.settings.budget_cap
        run = _Run(self, ordered, buffer, budget, chat_length, data.trigger)
        activated = run.loop()
        return build_result(activated)


def sort_entries(entries: Sequence[WIEntry], strategy: int) -> list[WIEntry]:
    """``getSortedEntries``: chat, persona, then character+global lore by ``order``."""

    def by_order(items: list[WIEntry]) -> list[WIEntry]:
        return sorted(items, key=lambda e: -e.order)

    groups: dict[str, list[WIEntry]] = {"chat": [], "persona": [], "character": [], "global": []}
    for entry in entries:
        groups[entry.source].append(entry)
    if strategy == 0:
        rest = by_order(groups["character"] + groups["global"])
    elif strategy == 2:
        rest = by_order(groups["global"]) + by_order(groups["character"])
    else:
        rest = by_order(groups["character"]) + by_order(groups["global"])
    return by_order(groups["chat"]) + by_order(groups["persona"]) + rest


def build_result(activated: Sequence[WIEntry]) -> WIResult:
    """Sort activated entries into positions (ascending ``order`` within each list)."""
    before: list[str] = []
    after: list[str] = []
    examples: list[tuple[WIPosition, str]] = []
    an_top: list[str] = []
    an_bottom: list[str] = []
    depth: list[tuple[int, Role, list[str]]] = []
    outlets: dict[str, list[str]] = {}
    for entry in sorted(activated, key=lambda e: -e.order):
        content = entry.content
        if not content:
            continue
        pos = entry.position
        if pos == WIPosition.BEFORE:
            before.insert(0, content)
        elif pos == WIPosition.AFTER:
            after.insert(0, content)
        elif pos in (WIPosition.EM_TOP, WIPosition.EM_BOTTOM):
            examples.insert(0, (pos, content))
        elif pos == WIPosition.AN_TOP:
            an_top.insert(0, content)
        elif pos == WIPosition.AN_BOTTOM:
            an_bottom.insert(0, content)
        elif pos == WIPosition.AT_DEPTH:
            slot = next((d for d in depth if d[0] == entry.depth and d[1] == entry.role), None)
            if slot is None:
                depth.append((entry.depth, entry.role, [content]))
            else:
                slot[2].insert(0, content)
        elif pos == WIPosition.OUTLET and entry.outlet_name:
            outlets.setdefault(entry.outlet_name, []).append(content)
    return WIResult(
        before="\n".join(before),
        after="\n".join(after),
        examples=tuple(examples),
        depth=tuple(DepthInjection(d, r, tuple(e)) for d, r, e in depth),
        an_top=tuple(an_top),
        an_bottom=tuple(an_bottom),
        outlets={k: "\n".join(v) for k, v in outlets.items()},
        activated=tuple(activated),
    )


class _Run:
    """The state of one ``checkWorldInfo`` loop."""

    def __init__(
        self,
        scanner: WorldInfoScanner,
        ordered: list[WIEntry],
        buffer: _Buffer,
        budget: int,
        chat_length: int,
        trigger: str,
    ) -> None:
        self.s = scanner
        self.ordered = ordered
        self.buffer = buffer
        self.budget = budget
        self.chat_length = chat_length
        self.trigger = trigger
        self.activated: dict[str, WIEntry] = {}
        self.failed: set[str] = set()
        self.overflowed = False
        self.activated_text = ""
        self.delay_levels = sorted(
            {e.delay_until_recursion for e in ordered if e.delay_until_recursion}
        )
        self.level = self.delay_levels.pop(0) if self.delay_levels else 0
        self.decorators = {e.key_id: parse_decorators(e.content)[0] for e in ordered}

    def loop(self) -> list[WIEntry]:
        """Scan, filter and admit entries until no recursion step is left."""
        state = "initial"
        count = 0
        while state:
            steps = self.s.settings.max_recursion_steps
            if steps and steps <= count:
                break
            count += 1
            new_entries = self._sort_new(self._candidates(state))
            self._apply_groups(new_entries, state)
            successful = self._admit(new_entries)
            state = self._next_state(state, successful)
        return list(self.activated.values())

    def _skip(self, entry: WIEntry, state: str) -> bool:
        if entry.key_id in self.failed or entry.key_id in self.activated:
            return True
        if not entry.enabled or (entry.triggers and self.trigger not in entry.triggers):
            return True
        sticky = entry.key_id in self.s.sticky
        if entry.delay and self.chat_length < entry.delay:
            return True
        if entry.key_id in self.s.cooldown and not sticky:
            return True
        recursion = state == "recursion"
        delayed = not recursion or entry.delay_until_recursion > self.level
        if entry.delay_until_recursion and not sticky and delayed:
            return True
        return recursion and self.s.settings.recursive and entry.exclude_recursion and not sticky

    def _candidates(self, state: str) -> list[WIEntry]:
        found: list[WIEntry] = []
        for entry in self.ordered:
            if self._skip(entry, state):
                continue
            decorators = self.decorators[entry.key_id]
            if "@@activate" in decorators:
                found.append(entry)
                continue
            if "@@dont_activate" in decorators:
                continue
            if entry.constant or entry.key_id in self.s.sticky:
                found.append(entry)
                continue
            if entry.keys and self._keys_match(entry, state):
                found.append(entry)
        return found

    def _text_for(self, entry: WIEntry, state: str) -> str:
        if entry.delay_until_recursion and state == "recursion":
            return "\x01" + "\n\x01".join(self.buffer.recurse)
        return self.buffer.get(entry, state)

    def _keys_match(self, entry: WIEntry, state: str) -> bool:
        text = self._text_for(entry, state)
        match = self.buffer.match
        if not any(match(text, self.s.substitute(k), entry) for k in entry.keys):
            return False
        if not (entry.selective and entry.secondary_keys):
            return True
        hits = [match(text, self.s.substitute(k), entry) for k in entry.secondary_keys]
        logic = entry.selective_logic
        return (
            (logic == SelectiveLogic.AND_ANY and any(hits))
            or (logic == SelectiveLogic.NOT_ALL and not all(hits))
            or (logic == SelectiveLogic.NOT_ANY and not any(hits))
            or (logic == SelectiveLogic.AND_ALL and all(hits))
        )

    def _sort_new(self, found: list[WIEntry]) -> list[WIEntry]:
        index = {e.key_id: i for i, e in enumerate(self.ordered)}
        return sorted(found, key=lambda e: (e.key_id not in self.s.sticky, index[e.key_id]))

    def _score(self, entry: WIEntry, state: str) -> int:
        text = self.buffer.get(entry, state)
        primary = sum(self.buffer.match(text, k, entry) for k in entry.keys)
        secondary = sum(self.buffer.match(text, k, entry) for k in entry.secondary_keys)
        if not entry.keys:
            return 0
        if entry.secondary_keys and entry.selective_logic == SelectiveLogic.AND_ANY:
            return primary + secondary
        if entry.secondary_keys and entry.selective_logic == SelectiveLogic.AND_ALL:
            all_found = secondary == len(entry.secondary_keys)
            return primary + secondary if all_found else primary
        return primary

    def _apply_groups(self, new_entries: list[WIEntry], state: str) -> None:
        """``filterByInclusionGroups``: at most one entry per inclusion group."""
        grouped: dict[str, list[WIEntry]] = {}
        for entry in new_entries:
            for name in (g for g in re.split(r",\s*", entry.group) if g):
                grouped.setdefault(name, []).append(entry)
        for name, members in grouped.items():
            if any(e.key_id in self.s.sticky for e in members):
                continue
            if any(e.group == name for e in self.activated.values()):
                for entry in members:
                    if entry in new_entries:
                        new_entries.remove(entry)
                continue
            members = self._by_score(members, state, new_entries)
            if len(members) <= 1:
                continue
            winner = self._group_winner(members)
            for entry in members:
                if entry is not winner and entry in new_entries:
                    new_entries.remove(entry)

    def _by_score(
        self, members: list[WIEntry], state: str, new_entries: list[WIEntry]
    ) -> list[WIEntry]:
        scoring = [
            e
            for e in members
            if (
                e.use_group_scoring
                if e.use_group_scoring is not None
                else self.s.settings.use_group_scoring
            )
        ]
        if not scoring:
            return members
        scores = {e.key_id: self._score(e, state) for e in members}
        best = max(scores.values())
        kept = [e for e in members if scores[e.key_id] >= best or e not in scoring]
        for entry in members:
            if entry not in kept and entry in new_entries:
                new_entries.remove(entry)
        return kept

    def _group_winner(self, members: list[WIEntry]) -> WIEntry | None:
        overrides = sorted((e for e in members if e.group_override), key=lambda e: -e.order)
        if overrides:
            return overrides[0]
        total = sum(e.group_weight for e in members)
        roll = self.s.rng.random() * total
        current = 0
        for entry in members:
            current += entry.group_weight
            if roll <= current:
                return entry
        return None

    def _admit(self, new_entries: list[WIEntry]) -> list[WIEntry]:
        """Probability rolls, then the token budget; returns the newly activated entries."""
        activated_tokens = self.s.count_tokens(self.activated_text) if self.activated_text else 0
        running = 0
        ignoring = sum(1 for e in new_entries if e.ignore_budget)
        successful: list[WIEntry] = []
        for entry in new_entries:
            ignoring -= 1 if entry.ignore_budget else 0
            if self.overflowed and not entry.ignore_budget:
                if ignoring > 0:
                    continue
                break
            if not self._roll(entry):
                self.failed.add(entry.key_id)
                continue
            _decorators, body = parse_decorators(entry.content)
            content = self.s.substitute(body)
            tokens = self.s.count_tokens(content)
            resolved = _with_content(entry, content)
            successful.append(resolved)
            if not entry.ignore_budget and activated_tokens + running + tokens >= self.budget:
                self.overflowed = True
                continue
            running += tokens
            self.activated[entry.key_id] = resolved
        return successful

    def _roll(self, entry: WIEntry) -> bool:
        if not entry.use_probability or entry.probability >= 100:
            return True
        if entry.key_id in self.s.sticky:
            return True
        return self.s.rng.random() * 100 <= entry.probability

    def _next_state(self, state: str, successful: list[WIEntry]) -> str:
        recursing = [e for e in successful if not e.prevent_recursion]
        settings = self.s.settings
        next_state = ""
        if settings.recursive and not self.overflowed and recursing:
            next_state = "recursion"
        if (
            settings.recursive
            and not self.overflowed
            and state == "min_activations"
            and self.buffer.recurse
        ):
            next_state = "recursion"
        if (
            not next_state
            and not self.overflowed
            and settings.min_activations > 0
            and len(self.activated) < settings.min_activations
        ):
            over = (
                settings.min_activations_depth_max > 0
                and self.buffer.depth() > settings.min_activations_depth_max
            ) or self.buffer.depth() > self.chat_length
            if not over:
                next_state = "min_activations"
                self.buffer.skew += 1
        if not next_state and self.delay_levels and self.buffer.recurse:
            next_state = "recursion"
            self.level = self.delay_levels.pop(0)
        if next_state:
            text = "\n".join(e.content for e in recursing)
            if text:
                self.buffer.recurse.append(text)
                self.activated_text = text + "\n" + self.activated_text
        return next_state


def _with_content(entry: WIEntry, content: str) -> WIEntry:
    return replace(entry, content=content)
