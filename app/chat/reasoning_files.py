"""The reasoning templates a chat can use: the built-in ones and the user's.

The user's are SillyTavern reasoning template files (``{"name", "prefix", "suffix",
"separator"}``), one each in ``DATA_DIR/reasoning``, written atomically and read at
start (and again whenever another process adds or removes one).  They are named as
imported formats are (:mod:`app.chat.format_files`, whose helpers this uses):

* an import identical to a template of its name (the user's or a built-in) changes
  nothing and says so;
* a *different* one of a user template's name is stored as ``Name (2)`` (then ``(3)``, …);
* one of a built-in's name replaces the built-in, with a report line (the built-in comes
  back when the file is removed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.chat.format_files import (
    Stored,
    first_fit,
    folder_time,
    free_path,
    json_files,
    read_json,
    write_json,
)
from app.errors import ParlorError, TemplateError
from app.prompt.reasoning import (
    BUILTIN_TEMPLATES,
    DEFAULT_TEMPLATE,
    ReasoningTemplate,
    detect_template,
    find_template,
)
from app.prompt.st_reasoning import reasoning_from_st, reasoning_to_st, same_tags

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReasoningPlan:
    """What storing a template will do: the outcome, and the template to write (if any)."""

    stored: Stored
    #: The template to write into a new file (None: nothing changes).
    save: ReasoningTemplate | None = None


class ReasoningTemplates:
    """The built-in reasoning templates and the user's, kept in ``folder``.

    Without a folder only the built-in ones are there (and nothing can be stored).
    """

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder
        self._saved: dict[str, tuple[Path, ReasoningTemplate]] | None = None
        #: The folder's modification time when :attr:`_saved` was last in step with it.
        self._seen: int | None = None

    @classmethod
    def load(cls, folder: Path) -> ReasoningTemplates:
        """The templates, the user's read from ``folder`` now (a bad file is logged)."""
        templates = cls(folder)
        templates._index()
        return templates

    def names(self) -> list[str]:
        """Every template's name: the built-in ones in order (or the user's that replace
        them), then the user's own by name."""
        saved = self._index()
        builtin = [saved.get(_key(t.name), (None, t))[1].name for t in BUILTIN_TEMPLATES]
        taken = {_key(name) for name in builtin}
        own = sorted((t.name for _, t in saved.values() if _key(t.name) not in taken), key=_key)
        return [*builtin, *own]

    def find(self, name: str | None) -> ReasoningTemplate | None:
        """The template called ``name`` (any case): the user's, else a built-in; or None."""
        saved = self._index().get(_key(name or ""))
        return saved[1] if saved is not None else find_template(name)

    def has(self, name: str | None) -> bool:
        """Whether a template called ``name`` exists."""
        return self.find(name) is not None

    def pick(
        self, chosen: Iterable[str | None], chat_template: str | None, default: str | None
    ) -> str:
        """The first of the ``chosen`` names that exists, else the template the model's
        chat template points to, else ``default`` (where it exists), else DeepSeek."""
        for name in chosen:
            if name and self.has(name):
                return name
        fallback = default if default and self.has(default) else DEFAULT_TEMPLATE
        return detect_template(chat_template, fallback)

    def store(self, template: ReasoningTemplate) -> Stored:
        """Keep ``template`` under the naming policy."""
        plan = self.plan(template)
        self.write(plan)
        return plan.stored

    def plan(self, template: ReasoningTemplate) -> ReasoningPlan:
        """Where ``template`` would go under the naming policy; nothing is written yet."""
        plan = first_fit(template.name, lambda name, first: self._try(name, template, first))
        if plan is None:
            raise ParlorError(f"too many reasoning templates named {template.name!r}")
        return plan

    def write(self, plan: ReasoningPlan) -> Path | None:
        """Carry out ``plan``: the new file it wrote (None: nothing changed)."""
        if plan.save is None:
            return None
        if self._folder is None:
            raise ParlorError("reasoning templates: no folder to keep them in")
        target = free_path(self._folder, plan.save.name, "reasoning")
        write_json(target, reasoning_to_st(plan.save))
        self._index()[_key(plan.save.name)] = (target, plan.save)
        self._seen = folder_time(self._folder)
        return target

    def discard(self, path: Path) -> None:
        """Remove a file :meth:`write` wrote (the rest of its import failed)."""
        path.unlink(missing_ok=True)
        self._saved = None

    def _try(self, name: str, template: ReasoningTemplate, first: bool) -> ReasoningPlan | None:
        """The plan storing ``template`` as ``name`` if the policy allows; None: try the next."""
        existing = self.find(name)
        if existing is not None and same_tags(existing, template):
            return ReasoningPlan(Stored(existing.name, False, (_already(existing.name),)))
        named = ReasoningTemplate(name, template.prefix, template.suffix, template.separator)
        if existing is None:
            renamed = (
                f"a different reasoning template named {template.name!r} exists; "
                f"imported as {name!r}"
            )
            return ReasoningPlan(Stored(name, True, () if first else (renamed,)), named)
        if first and _key(name) not in self._index():
            note = (
                f"replaces the built-in reasoning template {existing.name!r} "
                "(removing the import restores it)"
            )
            return ReasoningPlan(Stored(name, True, (note,)), named)
        return None

    def _index(self) -> dict[str, tuple[Path, ReasoningTemplate]]:
        """The user's templates by name, read again when another process changed them."""
        folder = self._folder
        if folder is None:
            return {}
        if self._saved is None or self._seen != folder_time(folder):
            self._saved = {}
            for path, template in _saved_templates(folder):
                self._saved.setdefault(_key(template.name), (path, template))
            self._seen = folder_time(folder)
        return self._saved


def _key(name: str) -> str:
    return name.strip().casefold()


def _already(name: str) -> str:
    return f"already there: reasoning template {name!r}"


def read_template(path: Path) -> ReasoningTemplate:
    """One SillyTavern reasoning template file (``InputError``/``TemplateError`` if not)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise TemplateError(str(path), "not a reasoning template (not an object)")
    return reasoning_from_st(data, str(path))


def _saved_templates(folder: Path) -> Iterator[tuple[Path, ReasoningTemplate]]:
    for path in json_files(folder):
        try:
            yield path, read_template(path)
        except (ParlorError, OSError) as exc:
            log.warning("%s", exc)
