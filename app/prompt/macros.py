"""SillyTavern macros (``{{char}}``, ``{{random::a::b}}``, ``<USER>`` …), evaluated in ST's order.

This follows the classic engine (``evaluateMacros`` in ``public/scripts/macros.js``)
whose results ST 1.18's engine reproduces for these macros.  Macro names are
case-insensitive.  Time and randomness come from an injected clock and RNG, so a
test can pin both; ``{{pick}}`` is seeded from the chat id, the text and the
position, so it is stable for a chat.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ROLL = re.compile(r"\{\{roll[ :]([^}]+)\}\}", re.IGNORECASE)
_DICE = re.compile(r"^([1-9]\d*)?d([1-9]\d*)([+-]\d+)?$", re.IGNORECASE)
_RANDOM = re.compile(r"\{\{random\s?::?([^}]+)\}\}", re.IGNORECASE)
_PICK = re.compile(r"\{\{pick\s?::?([^}]+)\}\}", re.IGNORECASE)
_COMMENT = re.compile(r"\{\{//([\s\S]*?)\}\}")
_TRIM = re.compile(r"(?:\r?\n)*\{\{trim\}\}(?:\r?\n)*", re.IGNORECASE)
_DATETIME_FORMAT = re.compile(r"\{\{datetimeformat +([^}]*)\}\}", re.IGNORECASE)
_TIME_UTC = re.compile(r"\{\{time_UTC([-+]\d+)\}\}", re.IGNORECASE)
_BANNED = re.compile(r'\{\{banned "(.*)"\}\}', re.IGNORECASE)
_OUTLET = re.compile(r"\{\{outlet::([^}]*)\}\}", re.IGNORECASE)
_MOMENT_TOKEN = re.compile(
    r"\[[^\]]*\]|YYYY|YY|MMMM|MMM|MM|M|Do|DD|D|dddd|ddd|dd|d|HH|H|hh|h|mm|m|ss|s|A|a"
)
_COMMA = "\x00COMMA\x00"


def string_hash(text: str, seed: int = 0) -> int:
    """cyrb53, ST's ``getStringHash`` (over UTF-16 code units, as JavaScript does)."""
    mask = 0xFFFFFFFF
    h1 = (0xDEADBEEF ^ seed) & mask
    h2 = (0x41C6CE57 ^ seed) & mask
    data = text.encode("utf-16-le")
    for i in range(0, len(data), 2):
        unit = data[i] | (data[i + 1] << 8)
        h1 = ((h1 ^ unit) * 2654435761) & mask
        h2 = ((h2 ^ unit) * 1597334677) & mask
    h1 = (((h1 ^ (h1 >> 16)) * 2246822507) & mask) ^ (((h2 ^ (h2 >> 13)) * 3266489909) & mask)
    h2 = (((h2 ^ (h2 >> 16)) * 2246822507) & mask) ^ (((h1 ^ (h1 >> 13)) * 3266489909) & mask)
    return 4294967296 * (2097151 & h2) + h1


def _js_round(value: float) -> int:
    return math.floor(value + 0.5)


def humanize(delta: timedelta) -> str:
    """moment.js ``duration.humanize()`` in English, without a suffix."""
    ms = abs(delta.total_seconds()) * 1000
    seconds, minutes = _js_round(ms / 1000), _js_round(ms / 60000)
    hours, days = _js_round(ms / 3_600_000), _js_round(ms / 86_400_000)
    months_exact = ms / 86_400_000 * 4800 / 146097
    months, years = _js_round(months_exact), _js_round(months_exact / 12)
    steps: list[tuple[bool, str]] = [
        (seconds <= 44, "a few seconds"),
        (seconds < 45, f"{seconds} seconds"),
        (minutes <= 1, "a minute"),
        (minutes < 45, f"{minutes} minutes"),
        (hours <= 1, "an hour"),
        (hours < 22, f"{hours} hours"),
        (days <= 1, "a day"),
        (days < 26, f"{days} days"),
        (months <= 1, "a month"),
        (months < 11, f"{months} months"),
        (years <= 1, "a year"),
    ]
    for hit, text in steps:
        if hit:
            return text
    return f"{years} years"


def _ordinal(day: int) -> str:
    if 10 <= day % 100 <= 20:
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


def moment_format(moment: datetime, fmt: str) -> str:
    """Format ``moment`` with a moment.js format string (the common tokens)."""
    hour12 = moment.hour % 12 or 12
    values = {
        "YYYY": f"{moment.year:04d}",
        "YY": f"{moment.year % 100:02d}",
        "MMMM": _MONTHS[moment.month - 1],
        "MMM": _MONTHS[moment.month - 1][:3],
        "MM": f"{moment.month:02d}",
        "M": str(moment.month),
        "Do": _ordinal(moment.day),
        "DD": f"{moment.day:02d}",
        "D": str(moment.day),
        "dddd": _WEEKDAYS[moment.weekday()],
        "ddd": _WEEKDAYS[moment.weekday()][:3],
        "dd": _WEEKDAYS[moment.weekday()][:2],
        "d": str((moment.weekday() + 1) % 7),
        "HH": f"{moment.hour:02d}",
        "H": str(moment.hour),
        "hh": f"{hour12:02d}",
        "h": str(hour12),
        "mm": f"{moment.minute:02d}",
        "m": str(moment.minute),
        "ss": f"{moment.second:02d}",
        "s": str(moment.second),
        "A": "AM" if moment.hour < 12 else "PM",
        "a": "am" if moment.hour < 12 else "pm",
    }

    def token(match: re.Match[str]) -> str:
        text = match[0]
        return text[1:-1] if text.startswith("[") else values[text]

    return _MOMENT_TOKEN.sub(token, fmt)


def _split_list(list_string: str) -> list[str]:
    if "::" in list_string:
        return list_string.split("::")
    protected = list_string.replace("\\,", _COMMA)
    return [item.strip().replace(_COMMA, ",") for item in protected.split(",")]


@dataclass(frozen=True)
class MacroEnv:
    """What macros expand to for one chat: names, card fields and chat state."""

    user: str
    char: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    persona: str = ""
    mes_examples: str = ""
    char_prompt: str = ""
    char_instruction: str = ""
    char_depth_prompt: str = ""
    creator_notes: str = ""
    char_version: str = ""
    model: str = ""
    last_message: str = ""
    last_user_message: str = ""
    last_char_message: str = ""
    last_message_id: int | None = None
    idle_since: datetime | None = None
    max_prompt: int = 0
    chat_id: str = ""
    pick_reroll_seed: str = ""
    instruct: Mapping[str, str] = field(default_factory=dict)
    outlets: Mapping[str, str] = field(default_factory=dict)
    #: In a group chat: every member's name (``{{group}}``, ``{{charIfNotGroup}}``), the
    #: unmuted ones' (``{{groupNotMuted}}``) and everyone's but the speaker's
    #: (``{{notChar}}``); None: a one-to-one chat.
    group: str | None = None
    group_not_muted: str | None = None
    not_char: str | None = None

    def card_values(self) -> list[tuple[str, str]]:
        """Card-field macros, in ST's substitution order (before the names)."""
        return [
            ("charPrompt", self.char_prompt),
            ("charInstruction", self.char_instruction),
            ("charJailbreak", self.char_instruction),
            ("description", self.description),
            ("charDescription", self.description),
            ("personality", self.personality),
            ("charPersonality", self.personality),
            ("scenario", self.scenario),
            ("charScenario", self.scenario),
            ("persona", self.persona),
            ("mesExamples", self.mes_examples),
            ("charVersion", self.char_version),
            ("char_version", self.char_version),
            ("charDepthPrompt", self.char_depth_prompt),
            ("creatorNotes", self.creator_notes),
            ("charCreatorNotes", self.creator_notes),
        ]


class MacroEngine:
    """Substitutes macros; the clock and RNG are injected for determinism."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock or (lambda: datetime.now().astimezone())
        self._rng = rng or random.Random()

    def substitute(
        self,
        content: str,
        env: MacroEnv,
        *,
        original: str | None = None,
        card: bool = True,
        extra: Mapping[str, str] | None = None,
    ) -> str:
        """Expand the macros in ``content``; unknown ``{{macros}}`` stay as they are.

        ``original`` is what ``{{original}}`` expands to (only its first occurrence);
        ``card=False`` leaves the card-field macros alone (ST's ``baseChatReplace``).
        """
        if not content:
            return ""
        raw = content
        content = self._legacy(content, env)
        if "{{" not in content:
            return content
        content = _ROLL.sub(self._roll, content)
        content = _replace_names(content, env.instruct)
        content = re.sub(r"\{\{newline\}\}", "\n", content, flags=re.IGNORECASE)
        content = _TRIM.sub("", content)
        content = re.sub(r"\{\{noop\}\}", "", content, flags=re.IGNORECASE)
        content = self._env_values(content, env, original=original, card=card, extra=extra)
        content = self._chat_state(content, env)
        content = _COMMENT.sub("", content)
        content = self._time(content, env)
        content = _BANNED.sub("", content)
        content = _RANDOM.sub(self._random, content)
        return self._pick(content, raw, env)

    @staticmethod
    def _legacy(content: str, env: MacroEnv) -> str:
        content = re.sub("<USER>", lambda _m: env.user, content, flags=re.IGNORECASE)
        for tag in ("<BOT>", "<CHAR>", "<CHARIFNOTGROUP>", "<GROUP>"):
            content = re.sub(tag, lambda _m: env.char, content, flags=re.IGNORECASE)
        return content

    def _env_values(
        self,
        content: str,
        env: MacroEnv,
        *,
        original: str | None,
        card: bool,
        extra: Mapping[str, str] | None,
    ) -> str:
        if original is not None:
            used = [False]

            def once(_match: re.Match[str]) -> str:
                if used[0]:
                    return ""
                used[0] = True
                return original

            content = re.sub(r"\{\{original\}\}", once, content, flags=re.IGNORECASE)
        pairs = env.card_values() if card else []
        pairs += [
            ("user", env.user),
            ("char", env.char),
            ("group", env.char if env.group is None else env.group),
            ("charIfNotGroup", env.char if env.group is None else env.group),
            ("groupNotMuted", env.char if env.group_not_muted is None else env.group_not_muted),
            ("notChar", env.user if env.not_char is None else env.not_char),
            ("model", env.model),
        ]
        pairs += list((extra or {}).items())
        return _replace_names(content, dict(pairs))

    @staticmethod
    def _chat_state(content: str, env: MacroEnv) -> str:
        last_id = "" if env.last_message_id is None else str(env.last_message_id)
        return _replace_names(
            content,
            {
                "maxPrompt": str(env.max_prompt),
                "lastMessage": env.last_message,
                "lastMessageId": last_id,
                "lastUserMessage": env.last_user_message,
                "lastCharMessage": env.last_char_message,
            },
        )

    def _time(self, content: str, env: MacroEnv) -> str:
        if "{{" not in content:
            return content
        now = self._clock()
        content = _replace_names(
            content,
            {
                "time": moment_format(now, "h:mm A"),
                "date": moment_format(now, "MMMM D, YYYY"),
                "weekday": moment_format(now, "dddd"),
                "isotime": moment_format(now, "HH:mm"),
                "isodate": moment_format(now, "YYYY-MM-DD"),
            },
        )
        content = _DATETIME_FORMAT.sub(lambda m: moment_format(now, m[1]), content)
        idle = "just now" if env.idle_since is None else humanize(now - env.idle_since)
        content = _replace_names(content, {"idle_duration": idle, "idleDuration": idle})
        content = _TIME_UTC.sub(
            lambda m: moment_format(now.astimezone(UTC) + timedelta(hours=int(m[1])), "h:mm A"),
            content,
        )
        return _OUTLET.sub(lambda m: env.outlets.get(m[1].strip(), ""), content)

    def _roll(self, match: re.Match[str]) -> str:
        formula = match[1].strip().lstrip(":").strip()
        if formula.isdigit():
            formula = f"1d{formula}"
        dice = _DICE.match(formula)
        if dice is None:
            return ""
        count = int(dice[1] or 1)
        sides = int(dice[2])
        total = sum(self._rng.randint(1, sides) for _ in range(count))
        return str(total + int(dice[3] or 0))

    def _random(self, match: re.Match[str]) -> str:
        items = _split_list(match[1])
        return items[self._rng.randrange(len(items))]

    @staticmethod
    def _pick(content: str, raw: str, env: MacroEnv) -> str:
        chat_hash = string_hash(env.chat_id)
        raw_hash = string_hash(raw)

        def pick(match: re.Match[str]) -> str:
            items = _split_list(match[1])
            seed_text = f"{chat_hash}-{raw_hash}-{match.start()}"
            if env.pick_reroll_seed:
                seed_text += f"-{env.pick_reroll_seed}"
            rng = random.Random(string_hash(seed_text))
            return items[rng.randrange(len(items))]

        return _PICK.sub(pick, content)


def _literal(value: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement that inserts ``value`` verbatim (no backslash escapes)."""

    def replace(_match: re.Match[str]) -> str:
        return value

    return replace


def _replace_names(content: str, values: Mapping[str, str]) -> str:
    """Replace ``{{name}}`` for each name, case-insensitively, in the given order."""
    for name, value in values.items():
        if "{{" not in content:
            break
        pattern = re.compile(r"\{\{" + re.escape(name) + r"\}\}", re.IGNORECASE)
        content = pattern.sub(_literal(value), content)
    return content
