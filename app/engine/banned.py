"""Banned strings: text that must never appear in a reply, enforced by backtracking.

A banned string can span several tokens, so a token ban alone cannot stop it.  As
KoboldCpp does, generated text is held back while it might still become a banned
string; when one appears, generation rolls back to the token where it began, bans that
token at that position, and samples again.  Released text always ends on a token
boundary, so a rollback never takes back text the user has already seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

#: After this many bans at one position, the position is left alone (no endless loop).
MAX_BANS_PER_POSITION = 32


@dataclass(frozen=True)
class Rollback:
    """Drop the last ``drop`` generated tokens; ``position`` is where to sample again."""

    drop: int
    position: int


@dataclass
class BanGuard:
    """Watches generated tokens for banned strings (case-insensitive)."""

    banned: tuple[str, ...]
    tokens: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    text: str = ""
    released: int = 0
    bans: dict[int, set[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, banned: Iterable[str]) -> BanGuard:
        """A guard for the non-empty strings in ``banned``."""
        return cls(tuple(dict.fromkeys(s.casefold() for s in banned if s)))

    @property
    def active(self) -> bool:
        """Whether any string is banned."""
        return bool(self.banned)

    def banned_now(self) -> set[int]:
        """Tokens banned at the position about to be sampled."""
        return self.bans.get(len(self.tokens), set())

    def push(self, token: int, piece: str) -> Rollback | str:
        """Add a sampled token's text: the text safe to show now, or a rollback."""
        self.starts.append(len(self.text))
        self.tokens.append(token)
        self.text += piece
        hit = self._first_hit()
        if hit is not None:
            return self._roll_back(hit)
        return self._release(self._safe_end())

    def flush(self) -> str:
        """End of generation: everything left is safe."""
        return self._release(len(self.text))

    def _first_hit(self) -> int | None:
        lowered = self.text.casefold()
        hits = [i for s in self.banned if (i := lowered.find(s, self.released)) != -1]
        return min(hits) if hits else None

    def _roll_back(self, hit: int) -> Rollback:
        index = max(i for i, start in enumerate(self.starts) if start <= hit)
        banned_here = self.bans.setdefault(index, set())
        if len(banned_here) < MAX_BANS_PER_POSITION:
            banned_here.add(self.tokens[index])
        for later in [p for p in self.bans if p > index]:
            del self.bans[later]
        drop = len(self.tokens) - index
        self.text = self.text[: self.starts[index]]
        del self.tokens[index:], self.starts[index:]
        return Rollback(drop, index)

    def _safe_end(self) -> int:
        """End of the text that cannot start a banned string, at a token boundary."""
        lowered = self.text.casefold()
        longest = max(len(s) for s in self.banned)
        for length in range(min(longest - 1, len(lowered)), 0, -1):
            tail = lowered[-length:]
            if any(s.startswith(tail) for s in self.banned):
                cut = len(self.text) - length
                return max(start for start in self.starts if start <= cut)
        return len(self.text)

    def _release(self, end: int) -> str:
        if end <= self.released:
            return ""
        out, self.released = self.text[self.released : end], end
        return out
