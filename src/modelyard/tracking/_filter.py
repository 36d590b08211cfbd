"""The run search language: MLflow's ``search_runs`` filters plus ``or``, ``not`` and ``()``.

:func:`parse_filter` turns text into a small syntax tree (:data:`Expr`) and checks the
types of every comparison; :func:`compile_filter` turns the tree into a SQL condition
over ``runs``; :func:`parse_order_by` and :func:`apply_order_by` do the same for sorting.

Example:
    >>> expr = parse_filter("metrics.auc > 0.9 or status = 'failed'")
    >>> [(c.kind.name, c.key, c.op.value, c.value) for c in expr.items]
    [('METRIC', 'auc', '>', 0.9), ('ATTRIBUTE', 'status', '=', 'FAILED')]
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence

from lark import Token, Tree

from modelyard.errors import FilterSyntaxError
from modelyard.tracking._filter_grammar import (
    And,
    Comparison,
    Expr,
    Kind,
    Not,
    Op,
    Or,
    OrderKey,
    Scalar,
    Value,
    parse_tree,
)
from modelyard.tracking._filter_sql import (
    apply_order_by,
    compile_filter,
    drives_search,
    not_narrowing,
)

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
    "apply_order_by",
    "compile_filter",
    "drives_search",
    "not_narrowing",
    "parse_filter",
    "parse_order_by",
]


class _Type(enum.Enum):
    NUMBER = "number"
    TIME = "time"
    TEXT = "text"
    STATUS = "status"


_ATTRIBUTES: dict[str, _Type] = {
    "run_id": _Type.TEXT,
    "run_name": _Type.TEXT,
    "status": _Type.STATUS,
    "start_time": _Type.TIME,
    "end_time": _Type.TIME,
    "experiment_id": _Type.TEXT,
    "experiment": _Type.TEXT,
    "parent_run_id": _Type.TEXT,
    "git_commit": _Type.TEXT,
    "user": _Type.TEXT,
    "source": _Type.TEXT,
}
_STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")

_ALIASES = {"id": "run_id", "name": "run_name"}
_PREFIXES = {
    **dict.fromkeys(("metrics", "metric"), Kind.METRIC),
    **dict.fromkeys(("params", "param"), Kind.PARAM),
    **dict.fromkeys(("tags", "tag"), Kind.TAG),
    **dict.fromkeys(("attributes", "attribute", "attr", "run"), Kind.ATTRIBUTE),
}
_NUMERIC_OPS = {Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE, Op.IN, Op.NOT_IN}
_TEXT_OPS = {Op.EQ, Op.NE, Op.LIKE, Op.ILIKE, Op.NOT_LIKE, Op.NOT_ILIKE, Op.IN, Op.NOT_IN}
_NULL_OPS = {Op.IS_NULL, Op.IS_NOT_NULL}
_OPS: dict[_Type, tuple[set[Op], str]] = {
    _Type.NUMBER: (_NUMERIC_OPS | _NULL_OPS, "=, !=, <, <=, >, >=, in or is null"),
    _Type.TIME: (_NUMERIC_OPS | _NULL_OPS, "=, !=, <, <=, >, >=, in or is null"),
    _Type.TEXT: (_TEXT_OPS | _NULL_OPS, "=, !=, like, ilike, in or is null"),
    _Type.STATUS: ({Op.EQ, Op.NE, Op.IN, Op.NOT_IN}, "=, != or in"),
}
_SPELLINGS = {"==": Op.EQ, "<>": Op.NE}
_INTEGER = re.compile(r"[+-]?\d+")


def parse_filter(text: str) -> Expr | None:
    """Parse a run filter; None for an empty one, which matches every run.

    Raises:
        FilterSyntaxError: the text does not parse or compares a value of the wrong type;
            ``position`` points at the offending character.
    """
    if not text.strip():
        return None
    return _expr(parse_tree(text, "filter").children[0], text)


def parse_order_by(items: Sequence[str]) -> list[OrderKey]:
    """Parse ``order_by`` items such as ``"metrics.auc DESC"`` or ``"start_time"``.

    Raises:
        FilterSyntaxError: an item does not parse; its ``details["filter"]`` is the item.
    """
    if isinstance(items, str):
        raise TypeError("order_by takes a list of strings, not one string")
    keys = []
    for item in items:
        ident, *direction = parse_tree(item, "order").children
        kind, key, _type = _identifier(ident, item)
        ascending = not direction or _token(direction[0]).type == "ASC"
        keys.append(OrderKey(kind, key, ascending))
    return keys


def _token(node: Tree[Token] | Token) -> Token:
    assert isinstance(node, Token), node
    return node


def _at(token: Token) -> int:
    assert token.start_pos is not None, token
    return token.start_pos


def _tree(node: Tree[Token] | Token) -> Tree[Token]:
    assert isinstance(node, Tree), node
    return node


def _expr(node: Tree[Token] | Token, text: str) -> Expr:
    tree = _tree(node)
    if tree.data == "or_expr":
        return Or(tuple(_expr(child, text) for child in tree.children))
    if tree.data == "and_expr":
        return And(tuple(_expr(child, text) for child in tree.children))
    if tree.data == "negation":
        return Not(_expr(tree.children[1], text))
    return _comparison(tree, text)


def _comparison(tree: Tree[Token], text: str) -> Comparison:
    ident, op_tree, *values = tree.children
    kind, key, type_ = _identifier(ident, text)
    words = [_token(word) for word in _tree(op_tree).children]
    op = _SPELLINGS.get(words[0]) or Op(" ".join(word.lower() for word in words))
    subject = _subject(kind, key, type_)
    allowed, listed = _OPS[type_]
    if op not in allowed:
        raise FilterSyntaxError(
            text, _at(words[0]), f"{subject} with {listed}; {op.value} is not allowed here"
        )
    checked = tuple(_value(_token(value), type_, op, subject, text) for value in values)
    value: Value = checked if op in (Op.IN, Op.NOT_IN) else (checked[0] if checked else None)
    return Comparison(kind, key, op, value, _at(_token(ident)))


def _identifier(node: Tree[Token] | Token, text: str) -> tuple[Kind, str, _Type]:
    token = _token(node)
    prefix, dot, name = str(token).partition(".")
    if not dot:
        prefix, name = "attributes", prefix
    kind = _PREFIXES.get(prefix.lower())
    if kind is None:
        raise FilterSyntaxError(
            text,
            _at(token),
            f"unknown prefix {prefix!r}: names look like metrics.NAME, params.NAME, "
            "tags.NAME, attributes.NAME or a bare attribute such as status",
        )
    position = _at(token) + (len(prefix) + 1 if dot else 0)
    if token.type == "QUOTED_IDENT":
        name = _unquote(name)
    if not name:
        raise FilterSyntaxError(text, position, f"expected a name after {prefix}.")
    if kind is not Kind.ATTRIBUTE:
        return kind, name, _Type.NUMBER if kind is Kind.METRIC else _Type.TEXT
    attribute = _ALIASES.get(name.lower(), name.lower())
    if attribute not in _ATTRIBUTES:
        known = ", ".join(sorted(_ATTRIBUTES))
        raise FilterSyntaxError(
            text, position, f"unknown attribute {name!r}; attributes are {known}"
        )
    return kind, attribute, _ATTRIBUTES[attribute]


def _subject(kind: Kind, key: str, type_: _Type) -> str:
    if kind is not Kind.ATTRIBUTE:
        noun = "numbers" if type_ is _Type.NUMBER else "strings"
        return f"{kind.value} compare as {noun}"
    if type_ is _Type.TIME:
        return f"{key} compares as an integer (epoch milliseconds)"
    if type_ is _Type.STATUS:
        return f"status compares as one of {', '.join(_STATUSES)}"
    return f"{key} compares as a string"


def _value(token: Token, type_: _Type, op: Op, subject: str, text: str) -> Scalar:
    raw = str(token)
    value = _scalar(token)
    problem = None
    if type_ is _Type.TEXT and not isinstance(value, str):
        problem = f"{subject}: quote the value, as in '{raw}'"
    elif type_ is _Type.STATUS:
        value = value.upper() if isinstance(value, str) else value
        if value not in _STATUSES:
            problem = f"{subject}; {raw} is not one of them"
    elif type_ is _Type.TIME and (isinstance(value, bool) or not isinstance(value, int)):
        problem = f"{subject}; {raw} is not an integer"
    elif type_ is _Type.NUMBER and (isinstance(value, bool | str)):
        problem = f"{subject}; {raw} is not a number"
    elif op in (Op.LIKE, Op.ILIKE, Op.NOT_LIKE, Op.NOT_ILIKE) and _ends_in_escape(str(value)):
        problem = "a like pattern cannot end with the escape character \\"
    if problem:
        raise FilterSyntaxError(text, _at(token), problem)
    return value


def _scalar(token: Token) -> Scalar:
    if token.type in ("SQ_STRING", "DQ_STRING"):
        return _unquote(str(token))
    if token.type == "NUMBER":
        return int(token) if _INTEGER.fullmatch(token) else float(token)
    return token.type == "TRUE"


def _unquote(quoted: str) -> str:
    """Strip the quotes; ``''`` (``""``) and ``\\'``, ``\\"``, ``\\\\`` are escapes.

    Any other backslash stays, so ``'50\\%'`` reaches ``like`` as the pattern ``50\\%``.
    """
    quote, body = quoted[0], quoted[1:-1]
    if quote == "`":
        return body
    doubled = re.compile(re.escape(quote * 2) + r"|\\(.)", re.DOTALL)

    def unescape(match: re.Match[str]) -> str:
        char = match.group(1)
        if char is None:
            return quote
        return char if char in "'\"\\" else match.group(0)

    return doubled.sub(unescape, body)


def _ends_in_escape(pattern: str) -> bool:
    return (len(pattern) - len(pattern.rstrip("\\"))) % 2 == 1
