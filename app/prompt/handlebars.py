"""The small Handlebars subset SillyTavern story strings use, rendered without code.

Supported: ``{{var}}``, ``{{{var}}}``, ``{{#if x}}…{{else}}…{{/if}}`` (and ``{{else if
y}}``), ``{{#unless x}}``, comments (``{{! … }}``, ``{{!-- … --}}``), ``~`` whitespace
control and Handlebars' standalone-line rule.  ``{{trim}}`` and any mustache that
names no parameter are re-emitted verbatim (ST's ``trim`` helper and
``helperMissing``), so the macro pass that follows resolves them.  Nothing is
evaluated: a template is data, so this renderer cannot be escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.errors import TemplateError

_TAG = re.compile(r"\{\{(~?)(\{?)(.*?)(\}?)(~?)\}\}", re.DOTALL)
_COMMENT_LONG = re.compile(r"\{\{(~?)!--.*?--(~?)\}\}", re.DOTALL)
_IDENT = re.compile(r"^(?:this\.|\./|@root\.)?([^\s]+)$")
_SUPPORTED_BLOCKS = ("if", "unless")


@dataclass
class _Text:
    text: str


@dataclass
class _Var:
    expr: str


@dataclass
class _Block:
    helper: str
    arg: str
    body: list[_Node] = field(default_factory=list)
    inverse: list[_Node] = field(default_factory=list)


_Node = _Text | _Var | _Block


@dataclass
class _Token:
    kind: str  # text | var | open | else | close | comment
    value: str
    start: int
    end: int
    strip_left: bool = False
    strip_right: bool = False


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        start = source.find("{{", pos)
        if start < 0:
            tokens.append(_Token("text", source[pos:], pos, len(source)))
            break
        if start > pos:
            tokens.append(_Token("text", source[pos:start], pos, start))
        long_comment = _COMMENT_LONG.match(source, start)
        match = long_comment or _TAG.match(source, start)
        if match is None:
            tokens.append(_Token("text", source[start:], start, len(source)))
            break
        if long_comment is not None:
            tok = _Token("comment", "", start, long_comment.end())
            tok.strip_left, tok.strip_right = bool(long_comment[1]), bool(long_comment[2])
        else:
            tok = _classify(match)
        tokens.append(tok)
        pos = match.end()
    return tokens


def _classify(match: re.Match[str]) -> _Token:
    inner = match[3].strip()
    strip_left, strip_right = bool(match[1]), bool(match[5])
    if inner.startswith("!"):
        kind, value = "comment", ""
    elif inner.startswith("#"):
        kind, value = "open", inner[1:].strip()
    elif inner.startswith("/") and not inner.startswith("//"):
        kind, value = "close", inner[1:].strip()
    elif inner == "else" or inner == "^" or inner.startswith("else "):
        kind, value = "else", inner[4:].strip() if inner.startswith("else") else ""
    else:
        kind, value = "var", inner
    return _Token(kind, value, match.start(), match.end(), strip_left, strip_right)


def _line_is_open(tokens: list[_Token], index: int) -> int | None:
    """Where the tag's line starts in the previous text token, if only blanks precede it."""
    if index == 0:
        return 0
    before = tokens[index - 1]
    if before.kind != "text":
        return None
    line_start = before.value.rfind("\n") + 1
    if before.value[line_start:].strip(" \t") != "":
        return None
    if line_start == 0 and index - 1 != 0:
        return None
    return line_start


def _line_is_closed(tokens: list[_Token], index: int) -> int | None:
    """Where the next line starts in the following text token, if only blanks follow."""
    if index + 1 == len(tokens):
        return 0
    after = tokens[index + 1]
    if after.kind != "text":
        return None
    newline = after.value.find("\n")
    rest = after.value if newline < 0 else after.value[:newline]
    if rest.strip(" \t\r") != "":
        return None
    if newline < 0:
        return None if index + 2 != len(tokens) else len(after.value)
    return newline + 1


def _apply_standalone(tokens: list[_Token]) -> None:
    """Handlebars removes the whole line of a block tag that stands alone on it."""
    for index, tok in enumerate(tokens):
        if tok.kind not in ("open", "else", "close", "comment"):
            continue
        line_start = _line_is_open(tokens, index)
        next_line = _line_is_closed(tokens, index)
        if line_start is None or next_line is None:
            continue
        if index > 0:
            tokens[index - 1].value = tokens[index - 1].value[:line_start]
        if index + 1 < len(tokens):
            tokens[index + 1].value = tokens[index + 1].value[next_line:]


def _apply_tilde(tokens: list[_Token]) -> None:
    for index, tok in enumerate(tokens):
        if tok.kind == "text":
            continue
        if tok.strip_left and index > 0 and tokens[index - 1].kind == "text":
            tokens[index - 1].value = tokens[index - 1].value.rstrip()
        if tok.strip_right and index + 1 < len(tokens) and tokens[index + 1].kind == "text":
            tokens[index + 1].value = tokens[index + 1].value.lstrip()


def _split_helper(value: str, name: str) -> tuple[str, str]:
    parts = value.split(None, 1)
    helper = parts[0] if parts else ""
    arg = parts[1].strip() if len(parts) > 1 else ""
    if helper not in _SUPPORTED_BLOCKS:
        raise TemplateError(name, f"unsupported block helper {{{{#{helper}}}}}")
    if not arg or len(arg.split()) != 1:
        raise TemplateError(name, f"{{{{#{helper}}}}} needs exactly one parameter")
    return helper, arg


def _parse(tokens: list[_Token], name: str) -> list[_Node]:
    root: list[_Node] = []
    # Each frame: (block, collecting-into-list, is-chained-else)
    stack: list[tuple[_Block, list[_Node], bool]] = []
    current = root
    for tok in tokens:
        if tok.kind == "text":
            if tok.value:
                current.append(_Text(tok.value))
        elif tok.kind == "var":
            current.append(_Var(tok.value))
        elif tok.kind == "open":
            helper, arg = _split_helper(tok.value, name)
            block = _Block(helper, arg)
            current.append(block)
            stack.append((block, current, False))
            current = block.body
        elif tok.kind == "else":
            current = _parse_else(tok, stack, name)
        elif tok.kind == "close":
            current = _parse_close(tok, stack, name)
    if stack:
        raise TemplateError(name, f"unclosed {{{{#{stack[-1][0].helper}}}}}")
    return root


def _parse_else(
    tok: _Token, stack: list[tuple[_Block, list[_Node], bool]], name: str
) -> list[_Node]:
    if not stack:
        raise TemplateError(name, "{{else}} outside of a block")
    block, _parent, _chained = stack[-1]
    if not tok.value:
        return block.inverse
    helper, arg = _split_helper(tok.value, name)
    chained = _Block(helper, arg)
    block.inverse.append(chained)
    stack.append((chained, block.inverse, True))
    return chained.body


def _parse_close(
    tok: _Token, stack: list[tuple[_Block, list[_Node], bool]], name: str
) -> list[_Node]:
    if not stack:
        raise TemplateError(name, f"{{{{/{tok.value}}}}} without an opening block")
    block, parent, chained = stack.pop()
    while chained:
        block, parent, chained = stack.pop()
    if tok.value != block.helper:
        raise TemplateError(name, f"{{{{/{tok.value}}}}} closes {{{{#{block.helper}}}}}")
    return parent


def _lookup(params: Mapping[str, object], expr: str) -> object | None:
    match = _IDENT.match(expr)
    if match is None:
        return None
    return params.get(match[1])


def _truthy(value: object | None) -> bool:
    if value is None or value is False or value == "" or value == 0:
        return False
    return not (isinstance(value, list | tuple) and not value)


def _to_text(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


class HandlebarsTemplate:
    """A parsed story string; :meth:`render` substitutes parameters."""

    def __init__(self, source: str, *, name: str) -> None:
        tokens = _tokenize(source)
        _apply_standalone(tokens)
        _apply_tilde(tokens)
        self.name = name
        self._nodes = _parse(tokens, name)

    def render(self, params: Mapping[str, object]) -> str:
        """Render with ``params``; unknown mustaches are re-emitted as macros."""
        out: list[str] = []
        self._render_nodes(self._nodes, params, out)
        return "".join(out)

    def _render_nodes(
        self, nodes: list[_Node], params: Mapping[str, object], out: list[str]
    ) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Var):
                value = _lookup(params, node.expr)
                out.append("{{" + node.expr + "}}" if value is None else _to_text(value))
            else:
                condition = _truthy(_lookup(params, node.arg))
                if node.helper == "unless":
                    condition = not condition
                self._render_nodes(node.body if condition else node.inverse, params, out)
