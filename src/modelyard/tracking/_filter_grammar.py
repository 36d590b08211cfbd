"""The run search language: its syntax tree and its lark grammar.

The grammar is LALR and built once, on first use. Every lark error becomes a
:class:`FilterSyntaxError` whose position is the 0-based offset of the offending
character (the end of the text when the filter stops too early) and whose reason says
what was expected there in words.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from typing import TypeAlias

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from modelyard.errors import FilterSyntaxError

__all__ = [
    "And",
    "Comparison",
    "Expr",
    "Kind",
    "Not",
    "Op",
    "Or",
    "OrderKey",
    "Scalar",
    "Value",
    "parse_tree",
]


class Kind(enum.Enum):
    """What a comparison looks at."""

    METRIC = "metrics"
    PARAM = "params"
    TAG = "tags"
    ATTRIBUTE = "attributes"


class Op(enum.Enum):
    """A comparison operator; ``==`` reads as ``=`` and ``<>`` as ``!=``."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "like"
    ILIKE = "ilike"
    NOT_LIKE = "not like"
    NOT_ILIKE = "not ilike"
    IN = "in"
    NOT_IN = "not in"
    IS_NULL = "is null"
    IS_NOT_NULL = "is not null"


Scalar: TypeAlias = str | int | float | bool
Value: TypeAlias = Scalar | tuple[Scalar, ...] | None


@dataclass(frozen=True)
class Comparison:
    """``kind.key op value``; ``value`` is a tuple for ``in``, None for ``is null``.

    ``position`` (the offset of the identifier) is left out of equality, so parsed trees
    compare equal to trees written by hand.
    """

    kind: Kind
    key: str
    op: Op
    value: Value
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr: TypeAlias = Comparison | And | Or | Not


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` item: missing values sort last in either direction."""

    kind: Kind
    key: str
    ascending: bool = True


# Keywords are regexps that must not run on into a name, so `notes` is a name and `not`
# is not; their priority puts them ahead of IDENT. The lexer is the basic one, not the
# contextual one, so a keyword is a keyword everywhere (`a = 1 and and` fails at the
# second `and` instead of reading it as an attribute named "and").
_KEYWORD_END = r"(?![A-Za-z0-9_.\/:-])"
_KEYWORDS = (
    "or",
    "and",
    "not",
    "like",
    "ilike",
    "in",
    "is",
    "null",
    "true",
    "false",
    "asc",
    "desc",
)

_GRAMMAR = r"""
filter: or_expr
order: ident (ASC | DESC)?

?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: NOT not_expr -> negation
         | "(" or_expr ")"
         | comparison

comparison: ident op value
          | ident in_op "(" value ("," value)* ")"
          | ident null_op
op: COMPARE_OP | LIKE | ILIKE | NOT LIKE | NOT ILIKE
in_op: IN | NOT IN
null_op: IS NULL | IS NOT NULL

?ident: IDENT | QUOTED_IDENT
?value: SQ_STRING | DQ_STRING | NUMBER | TRUE | FALSE

COMPARE_OP: /==|=|!=|<>|<=|>=|<|>/
IDENT: /[A-Za-z_][A-Za-z0-9_.\/:-]*/
QUOTED_IDENT.3: /[A-Za-z_][A-Za-z0-9_]*\.(?:`[^`]*`|"(?:[^"\\]|\\.)*")/
SQ_STRING: /'(?:[^'\\]|\\.|'')*'/
DQ_STRING: /"(?:[^"\\]|\\.|"")*"/
NUMBER: /[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/
%ignore /\s+/
""" + "\n".join(
    f"{'_' if word in ('or', 'and') else ''}{word.upper()}.2: /{word}{_KEYWORD_END}/i"
    for word in _KEYWORDS
)


@functools.cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", lexer="basic", start=["filter", "order"])


def parse_tree(text: str, start: str) -> Tree[Token]:
    """Parse ``text`` from rule ``start`` (``"filter"`` or ``"order"``)."""
    try:
        return _parser().parse(text, start=start)
    except UnexpectedInput as exc:
        position, reason = _explain(exc, text, start)
        raise FilterSyntaxError(text, position, reason) from None


_VALUES = {"SQ_STRING", "DQ_STRING", "NUMBER", "TRUE", "FALSE"}
_IDENTS = {"IDENT", "QUOTED_IDENT"}
_QUOTES = {"'": "unterminated string", '"': "unterminated string", "`": "unterminated name"}


def _explain(exc: UnexpectedInput, text: str, start: str) -> tuple[int, str]:
    if isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        char = text[position]
        if char in _QUOTES:
            return position, _QUOTES[char]
        return position, f"unexpected character {char!r}; {_expected(text, position, start)}"
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        position = exc.token.start_pos or 0
        reason = _expected(text, position, start)
        if exc.token.type == "IDENT" and reason.startswith("expected a value"):
            reason += f"; quote strings, as in '{exc.token}'"
        return position, reason
    return len(text), _expected(text, len(text), start)


def _accepts(text: str, position: int, start: str) -> set[str]:
    """The terminals that may follow ``text[:position]``.

    LALR merges states and reduces on any token in the merged lookahead, so by the time
    lark reports an error it may have reduced past the place where ``and``/``or`` were
    possible; replaying the valid prefix and asking the parser gives the exact set.
    """
    try:
        parser = _parser().parse_interactive(text[:position], start=start)
        parser.exhaust_lexer()
        return set(parser.accepts())  # type: ignore[no-untyped-call]
    except UnexpectedInput:  # pragma: no cover - the prefix parsed a moment ago
        return set()


def _expected(text: str, position: int, start: str) -> str:
    names = _accepts(text, position, start)
    if "COMPARE_OP" in names:
        return "expected a comparison operator such as =, <, like, in"
    if names & _IDENTS:
        if start == "order":
            return "expected a column such as metrics.auc, params.model or start_time"
        return "expected a comparison such as metrics.auc > 0.9"
    if names & _VALUES:
        return "expected a value: a 'quoted string', a number, true or false"
    if "NULL" in names:
        return "expected null or not null after is"
    if "LIKE" in names:
        return "expected like, ilike or in after not"
    if "ASC" in names:
        return "expected asc or desc"
    if names == {"LPAR"}:
        return "expected a parenthesised list of values after in, such as (1, 2)"
    if names == {"RPAR"}:
        return "expected ) to close the parenthesis"
    if "COMMA" in names:
        return "expected , or ) in the list of values"
    words = [w for t, w in (("_AND", "and"), ("_OR", "or"), ("RPAR", ")")) if t in names]
    if "$END" in names:
        words.append("the end of the filter")
    if words:
        return "expected " + (", ".join(words[:-1]) + " or " if len(words) > 1 else "") + words[-1]
    return "unexpected input"
