"""The run search language: parsing, type rules, errors, and its SQL on both databases."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from modelyard.errors import FilterSyntaxError, ValidationError
from modelyard.store import Database
from modelyard.store._schema import experiments, latest_metrics, params, run_tags, runs
from modelyard.tracking._filter import (
    And,
    Comparison,
    Expr,
    Kind,
    Not,
    Op,
    Or,
    OrderKey,
    apply_order_by,
    compile_filter,
    parse_filter,
    parse_order_by,
)


def metric(key: str, op: Op, value: Any) -> Comparison:
    return Comparison(Kind.METRIC, key, op, value)


def param(key: str, op: Op, value: Any) -> Comparison:
    return Comparison(Kind.PARAM, key, op, value)


def attribute(key: str, op: Op, value: Any) -> Comparison:
    return Comparison(Kind.ATTRIBUTE, key, op, value)


A = metric("a", Op.EQ, 1)
B = metric("b", Op.EQ, 2)
C = metric("c", Op.EQ, 3)


# --- parsing -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_an_empty_filter_matches_everything(text: str) -> None:
    assert parse_filter(text) is None


def test_and_binds_tighter_than_or() -> None:
    assert parse_filter("metrics.a = 1 or metrics.b = 2 and metrics.c = 3") == Or((A, And((B, C))))


def test_parentheses_override_precedence() -> None:
    expected = And((Or((A, B)), C))
    assert parse_filter("(metrics.a = 1 or metrics.b = 2) and metrics.c = 3") == expected


def test_not_binds_tighter_than_and() -> None:
    assert parse_filter("not metrics.a = 1 and metrics.b = 2") == And((Not(A), B))


def test_not_applies_to_a_parenthesised_group() -> None:
    assert parse_filter("not (metrics.a = 1 or metrics.b = 2)") == Not(Or((A, B)))


def test_not_can_be_repeated() -> None:
    assert parse_filter("not not metrics.a = 1") == Not(Not(A))


def test_chains_of_the_same_operator_are_flat() -> None:
    assert parse_filter("metrics.a = 1 and metrics.b = 2 and metrics.c = 3") == And((A, B, C))


def test_redundant_parentheses_disappear() -> None:
    assert parse_filter("((metrics.a = 1))") == A


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("metrics.a = 1", Op.EQ, 1),
        ("metrics.a == 1", Op.EQ, 1),
        ("metrics.a != 1", Op.NE, 1),
        ("metrics.a <> 1", Op.NE, 1),
        ("metrics.a < 1", Op.LT, 1),
        ("metrics.a <= 1", Op.LE, 1),
        ("metrics.a > 1", Op.GT, 1),
        ("metrics.a >= 1", Op.GE, 1),
        ("metrics.a in (1, 2.5)", Op.IN, (1, 2.5)),
        ("metrics.a not in (1)", Op.NOT_IN, (1,)),
        ("metrics.a is null", Op.IS_NULL, None),
        ("metrics.a is not null", Op.IS_NOT_NULL, None),
    ],
)
def test_every_numeric_operator(text: str, op: Op, value: Any) -> None:
    assert parse_filter(text) == metric("a", op, value)


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("params.p like 'x%'", Op.LIKE, "x%"),
        ("params.p ilike 'x%'", Op.ILIKE, "x%"),
        ("params.p not like 'x%'", Op.NOT_LIKE, "x%"),
        ("params.p not ilike 'x%'", Op.NOT_ILIKE, "x%"),
        ("params.p in ('x', \"y\")", Op.IN, ("x", "y")),
        ("params.p not in ('x')", Op.NOT_IN, ("x",)),
    ],
)
def test_every_string_operator(text: str, op: Op, value: Any) -> None:
    assert parse_filter(text) == param("p", op, value)


def test_keywords_are_case_insensitive() -> None:
    text = "metrics.a = 1 AND NOT params.p LIKE 'x' Or params.q Is NoT nUlL"
    expected = Or(
        (
            And((A, Not(param("p", Op.LIKE, "x")))),
            param("q", Op.IS_NOT_NULL, None),
        )
    )
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "kind", "key"),
    [
        ("metrics.auc is null", Kind.METRIC, "auc"),
        ("metric.auc is null", Kind.METRIC, "auc"),
        ("METRICS.auc is null", Kind.METRIC, "auc"),
        ("params.model is null", Kind.PARAM, "model"),
        ("param.model is null", Kind.PARAM, "model"),
        ("tags.team is null", Kind.TAG, "team"),
        ("tag.team is null", Kind.TAG, "team"),
        ("attributes.end_time is null", Kind.ATTRIBUTE, "end_time"),
        ("attribute.end_time is null", Kind.ATTRIBUTE, "end_time"),
        ("attr.end_time is null", Kind.ATTRIBUTE, "end_time"),
        ("run.end_time is null", Kind.ATTRIBUTE, "end_time"),
        ("end_time is null", Kind.ATTRIBUTE, "end_time"),
        ("End_Time is null", Kind.ATTRIBUTE, "end_time"),
        ("id is null", Kind.ATTRIBUTE, "run_id"),
        ("attributes.name is null", Kind.ATTRIBUTE, "run_name"),
    ],
)
def test_identifier_prefixes_and_attribute_aliases(text: str, kind: Kind, key: str) -> None:
    assert parse_filter(text) == Comparison(kind, key, Op.IS_NULL, None)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("metrics.`val loss` > 0", "val loss"),
        ('metrics."val loss" > 0', "val loss"),
        ('metrics."say \\"hi\\"" > 0', 'say "hi"'),
        ("metrics.`a or b` > 0", "a or b"),
        ("metrics.val/loss:top-1 > 0", "val/loss:top-1"),
        ("metrics.optim.lr > 0", "optim.lr"),
        ("metrics.in > 0", "in"),
        ("metrics.notes > 0", "notes"),
    ],
)
def test_metric_names(text: str, key: str) -> None:
    assert parse_filter(text) == metric(key, Op.GT, 0)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'hgb'", "hgb"),
        ('"hgb"', "hgb"),
        ("'it''s'", "it's"),
        ("'it\\'s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ("'a\\\\b'", "a\\b"),
        ("'50\\%'", "50\\%"),
        ("''", ""),
        ("'a and b'", "a and b"),
    ],
)
def test_string_literals(literal: str, value: str) -> None:
    assert parse_filter(f"params.p = {literal}") == param("p", Op.EQ, value)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("1", 1),
        ("-2", -2),
        ("+3", 3),
        ("0.5", 0.5),
        (".5", 0.5),
        ("3.", 3.0),
        ("1e-3", 0.001),
        ("-2.5E+2", -250.0),
    ],
)
def test_number_literals(literal: str, value: float) -> None:
    parsed = parse_filter(f"metrics.a = {literal}")
    assert parsed == metric("a", Op.EQ, value)
    assert isinstance(parsed, Comparison)
    assert type(parsed.value) is type(value)


def test_status_is_uppercased() -> None:
    assert parse_filter("status in ('finished', 'Killed')") == attribute(
        "status", Op.IN, ("FINISHED", "KILLED")
    )


def test_time_attributes_take_integers() -> None:
    assert parse_filter("start_time >= 1700000000000") == attribute(
        "start_time", Op.GE, 1700000000000
    )


def test_comparisons_remember_their_position() -> None:
    parsed = parse_filter("metrics.a = 1 and  params.b = 'x'")
    assert isinstance(parsed, And)
    assert [item.position for item in parsed.items if isinstance(item, Comparison)] == [0, 19]


def test_whitespace_is_optional_around_operators() -> None:
    assert parse_filter("(metrics.a=1)or(metrics.b>=-1)") == Or((A, metric("b", Op.GE, -1)))


# --- errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("metrics.auc >", 13, "expected a value"),
        ("metrics.auc > 0.9 and", 21, "expected a comparison such as metrics.auc > 0.9"),
        ("params.model = hgb", 15, "quote strings, as in 'hgb'"),
        ("foo.bar = 1", 0, "unknown prefix 'foo'"),
        ("params.model = 'hgb", 15, "unterminated string"),
        ('params.model = "hgb', 15, "unterminated string"),
        ("params.lr = 0.1", 12, "quote the value, as in '0.1'"),
        ("attributes.colour = 'x'", 11, "unknown attribute 'colour'; attributes are"),
        ("colour = 'x'", 0, "unknown attribute 'colour'"),
        ("metrics.auc 0.9", 12, "expected a comparison operator such as =, <, like, in"),
        ("metrics.auc ~ 0.9", 12, "unexpected character '~'"),
        ("metrics.auc = 1 and and", 20, "expected a comparison"),
        ("metrics.auc = 1 metrics.b = 2", 16, "expected and, or or the end of the filter"),
        ("(metrics.auc = 1", 16, "expected and, or or )"),
        ("metrics.auc = 1)", 15, "expected and, or or the end of the filter"),
        ("metrics.auc in 1", 15, "parenthesised list of values"),
        ("metrics.auc in (1 2)", 18, "expected , or )"),
        ("metrics.auc is 1", 15, "expected null or not null"),
        ("metrics.auc not = 1", 16, "expected like, ilike or in after not"),
        ("metrics.auc like '0.9'", 12, "like is not allowed"),
        ("metrics.auc = '0.9'", 14, "'0.9' is not a number"),
        ("metrics.auc = true", 14, "true is not a number"),
        ("metrics.auc in (1, 'x')", 19, "'x' is not a number"),
        ("params.lr < '0.1'", 10, "< is not allowed"),
        ("tags.t = 1", 9, "quote the value"),
        ("params.p in ('a', 1)", 18, "quote the value"),
        ("run_name = false", 11, "quote the value"),
        ("start_time = 1.5", 13, "1.5 is not an integer"),
        ("start_time like '1%'", 11, "like is not allowed"),
        ("status = 'done'", 9, "RUNNING, FINISHED, FAILED, KILLED"),
        ("status like 'F%'", 7, "like is not allowed"),
        ("metrics.`val loss = 1", 8, "unterminated name"),
        ("metrics. = 1", 8, "expected a name after metrics."),
        ("params.p like 'a\\\\'", 14, "cannot end with the escape character"),
        ("or", 0, "expected a comparison"),
        ("()", 1, "expected a comparison"),
    ],
)
def test_errors_point_at_the_fault(text: str, position: int, reason: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text)
    assert caught.value.position == position
    assert reason in caught.value.details["reason"]
    assert caught.value.details["filter"] == text


def test_unknown_attribute_lists_the_allowed_ones() -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter("attributes.colour = 'x'")
    for name in ("run_id", "run_name", "status", "start_time", "experiment", "git_commit"):
        assert name in caught.value.details["reason"]


def test_a_filter_syntax_error_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="position 13") as caught:
        parse_filter("metrics.auc >")
    assert isinstance(caught.value, ValueError)
    assert caught.value.code == "filter_syntax_error"


# --- order_by parsing ----------------------------------------------------------------


def test_order_by_items() -> None:
    keys = parse_order_by(
        ["metrics.auc DESC", "params.model", "start_time asc", "attributes.run_name", "tag.t desc"]
    )
    assert keys == [
        OrderKey(Kind.METRIC, "auc", ascending=False),
        OrderKey(Kind.PARAM, "model"),
        OrderKey(Kind.ATTRIBUTE, "start_time"),
        OrderKey(Kind.ATTRIBUTE, "run_name"),
        OrderKey(Kind.TAG, "t", ascending=False),
    ]


def test_order_by_quoted_name() -> None:
    assert parse_order_by(["metrics.`val loss` desc"]) == [OrderKey(Kind.METRIC, "val loss", False)]


@pytest.mark.parametrize(
    ("item", "position", "reason"),
    [
        ("metrics.auc descending", 12, "expected asc or desc"),
        ("metrics.auc desc desc", 17, "expected the end of the filter"),
        ("attributes.colour", 11, "unknown attribute 'colour'"),
        ("", 0, "expected a column such as metrics.auc"),
        ("foo.bar", 0, "unknown prefix 'foo'"),
    ],
)
def test_order_by_errors_point_at_the_fault(item: str, position: int, reason: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_order_by(["start_time", item])
    assert caught.value.position == position
    assert reason in caught.value.details["reason"]
    assert caught.value.details["filter"] == item


def test_order_by_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError, match="list of strings"):
        parse_order_by("metrics.auc")


# --- SQL -----------------------------------------------------------------------------

RUNS = [
    ("r1", "e1", "hgb-baseline", "FINISHED", 1000, 2000, None, "abc123", "train.py", "ana"),
    ("r2", "e1", "lr-tuned", "FINISHED", 2000, 3000, "r1", "def456", "train.py", "ana"),
    ("r3", "e1", "HGB [big]", "FAILED", 3000, 3500, None, None, "tune.py", "bo"),
    ("r4", "e2", "rf_100%", "RUNNING", 4000, None, None, None, None, "bo"),
    ("r5", "e2", "rf-small", "KILLED", 4000, 4500, None, "abc999", "train.py", None),
]
RUN_COLUMNS = (
    "id",
    "experiment_id",
    "name",
    "status",
    "start_time",
    "end_time",
    "parent_run_id",
    "git_commit",
    "source",
    "user",
)
PARAMS = {"r1": {"model": "hgb", "lr": "0.1"}, "r2": {"model": "lr", "lr": "0.01"}}
PARAMS |= {"r3": {"model": "HGB"}, "r4": {"model": "rf"}}
TAGS = {"r1": {"team": "Core", "stage": "prod"}, "r2": {"team": "core"}, "r4": {"team": "ml_ops"}}
METRICS = {
    "r1": {"auc": 0.91, "loss": 0.3, "val loss": 0.5},
    "r2": {"auc": 0.85, "loss": math.nan},
    "r3": {"auc": 0.95},
    "r5": {"auc": 0.7},
}
ALL = {"r1", "r2", "r3", "r4", "r5"}


def _metric_rows(values: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run_id,
            "key": key,
            "step": 0,
            "timestamp": 0,
            "value": 0.0 if math.isnan(value) else value,
            "is_nan": math.isnan(value),
        }
        for run_id, metrics in values.items()
        for key, value in metrics.items()
    ]


def _key_values(values: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    return [
        {"run_id": run_id, "key": key, "value": value}
        for run_id, pairs in values.items()
        for key, value in pairs.items()
    ]


@pytest.fixture
def seeded(db: Database) -> Database:
    with db.write() as conn:
        conn.execute(
            insert(experiments),
            [
                {"id": "e1", "name": "churn", "created_at": 0},
                {"id": "e2", "name": "fraud", "created_at": 0},
            ],
        )
        conn.execute(insert(runs), [dict(zip(RUN_COLUMNS, row, strict=True)) for row in RUNS])
        conn.execute(insert(params), _key_values(PARAMS))
        conn.execute(insert(run_tags), _key_values(TAGS))
        conn.execute(insert(latest_metrics), _metric_rows(METRICS))
    return db


def _search(
    db: Database, text: str, order_by: Sequence[str] = (), page: tuple[int, int] | None = None
) -> list[str]:
    stmt = select(runs.c.id).where(compile_filter(parse_filter(text)))
    stmt = apply_order_by(stmt, parse_order_by(order_by))
    if page is not None:
        stmt = stmt.offset(page[0]).limit(page[1])
    with db.read() as conn:
        return list(conn.scalars(stmt))


FILTERS = [
    ("", ALL),
    ("metrics.auc > 0.9", {"r1", "r3"}),
    ("metrics.auc >= 0.85 and metrics.auc < 0.95", {"r1", "r2"}),
    ("metrics.auc <= 0.85", {"r2", "r5"}),
    ("metrics.auc = 0.7", {"r5"}),
    ("metrics.auc != 0.7", {"r1", "r2", "r3"}),
    ("metrics.auc in (0.7, 0.85)", {"r2", "r5"}),
    ("metrics.auc not in (0.7, 0.85)", {"r1", "r3"}),
    pytest.param("metrics.auc in (1, 0.7)", {"r5"}, id="int-then-float-list"),
    ("metrics.auc < 3000000000", {"r1", "r2", "r3", "r5"}),
    ("metrics.auc > -1", {"r1", "r2", "r3", "r5"}),
    ("not metrics.auc > 0.9", {"r2", "r4", "r5"}),
    pytest.param("metrics.loss = 0", set(), id="nan-is-not-zero"),
    pytest.param("metrics.loss != 0.3", set(), id="nan-matches-no-comparison"),
    ("metrics.loss < 1", {"r1"}),
    ("metrics.loss is not null", {"r1", "r2"}),
    ("metrics.loss is null", {"r3", "r4", "r5"}),
    ("metrics.`val loss` < 1", {"r1"}),
    ("params.model = 'hgb'", {"r1"}),
    ("params.model != 'hgb'", {"r2", "r3", "r4"}),
    pytest.param("params.model like 'hgb%'", {"r1"}, id="like-is-case-sensitive"),
    ("params.model like 'h_b'", {"r1"}),
    ("params.model ilike 'hgb%'", {"r1", "r3"}),
    ("params.model not like 'h%'", {"r2", "r3", "r4"}),
    ("params.model not ilike 'h%'", {"r2", "r4"}),
    ("params.model in ('lr', 'rf')", {"r2", "r4"}),
    ("params.model not in ('lr', 'rf')", {"r1", "r3"}),
    ("params.model is null", {"r5"}),
    ("params.lr = '0.1'", {"r1"}),
    ("tags.team = 'core'", {"r2"}),
    ("tags.team ilike 'CORE'", {"r1", "r2"}),
    pytest.param("tags.team like '%\\_%'", {"r4"}, id="like-escapes-underscore"),
    ("tags.stage is not null", {"r1"}),
    pytest.param("run_name like '%\\%'", {"r4"}, id="like-escapes-percent"),
    pytest.param("run_name like '%[big]'", {"r3"}, id="like-brackets-are-literal"),
    pytest.param("run_name like 'HGB*'", set(), id="like-star-is-literal"),
    pytest.param("run_name like 'hgb?baseline'", set(), id="like-question-mark-is-literal"),
    ("run_name ilike 'hgb%'", {"r1", "r3"}),
    ("name = 'lr-tuned'", {"r2"}),
    ("status = 'finished'", {"r1", "r2"}),
    ("status != 'FINISHED'", {"r3", "r4", "r5"}),
    ("status in ('running', 'killed')", {"r4", "r5"}),
    ("start_time >= 3000", {"r3", "r4", "r5"}),
    ("start_time < 1700000000000", ALL),
    ("end_time in (2000, 1700000000000)", {"r1"}),
    ("end_time is null", {"r4"}),
    pytest.param("not end_time > 2500", {"r1", "r4"}, id="not-is-two-valued"),
    ("end_time != 2000", {"r2", "r3", "r5"}),
    ("experiment = 'fraud'", {"r4", "r5"}),
    ("experiment like 'ch%'", {"r1", "r2", "r3"}),
    ("experiment_id = 'e1'", {"r1", "r2", "r3"}),
    ("parent_run_id = 'r1'", {"r2"}),
    ("parent_run_id is null", {"r1", "r3", "r4", "r5"}),
    ("run_id in ('r1', 'r5')", {"r1", "r5"}),
    ("id = 'r2'", {"r2"}),
    ("git_commit like 'abc%'", {"r1", "r5"}),
    ("git_commit is null", {"r3", "r4"}),
    ("user = 'bo'", {"r3", "r4"}),
    ("source = 'train.py'", {"r1", "r2", "r5"}),
    ("params.model = 'rf' or params.model = 'lr' and metrics.auc > 0.9", {"r4"}),
    ("(params.model = 'rf' or params.model = 'lr') and metrics.auc > 0.8", {"r2"}),
    ("not (status = 'FINISHED' or status = 'FAILED')", {"r4", "r5"}),
    ("metrics.auc > 0.8 and not (params.model = 'hgb' or tags.team = 'core')", {"r3"}),
    # an equality drives each of these; the other comparisons probe the runs it finds
    ("params.model in ('hgb', 'lr') and tags.stage is null", {"r2"}),
    ("params.model in ('hgb', 'lr', 'rf') and tags.team != 'core'", {"r1", "r4"}),
    ("tags.team = 'core' and metrics.loss is not null", {"r2"}),
    ("metrics.auc in (0.91, 0.7) and params.model is null", {"r5"}),
    ("params.lr = '0.01' and not metrics.loss < 1 and metrics.auc > 0.8", {"r2"}),
    ("metrics.auc > 0.8 and params.model = 'hgb' and params.lr like '0._'", {"r1"}),
    ("params.model = 'rf' and (metrics.auc > 0.5 or tags.team like 'ml%')", {"r4"}),
]


@pytest.mark.parametrize(("text", "expected"), FILTERS)
def test_filters_select_the_expected_runs(seeded: Database, text: str, expected: set[str]) -> None:
    assert set(_search(seeded, text)) == expected


ORDERINGS = [
    ([], ["r4", "r5", "r3", "r2", "r1"]),
    (["metrics.auc DESC"], ["r3", "r1", "r2", "r5", "r4"]),
    (["metrics.auc"], ["r5", "r2", "r1", "r3", "r4"]),
    (["metrics.loss"], ["r1", "r2", "r4", "r5", "r3"]),
    (["metrics.loss desc"], ["r1", "r2", "r4", "r5", "r3"]),
    (["metrics.`val loss`"], ["r1", "r4", "r5", "r3", "r2"]),
    (["params.model"], ["r3", "r1", "r2", "r4", "r5"]),
    (["params.model desc"], ["r4", "r2", "r1", "r3", "r5"]),
    (["start_time asc"], ["r1", "r2", "r3", "r4", "r5"]),
    (["attributes.run_name"], ["r3", "r1", "r2", "r5", "r4"]),
    (["end_time desc"], ["r5", "r3", "r2", "r1", "r4"]),
    (["end_time"], ["r1", "r2", "r3", "r5", "r4"]),
    (["tags.team", "metrics.auc desc"], ["r1", "r2", "r4", "r3", "r5"]),
    (["experiment desc", "start_time"], ["r4", "r5", "r1", "r2", "r3"]),
]


@pytest.mark.parametrize(("order_by", "expected"), ORDERINGS)
def test_orderings_put_missing_values_last(
    seeded: Database, order_by: list[str], expected: list[str]
) -> None:
    assert _search(seeded, "", order_by) == expected


def test_filter_and_order_by_combine(seeded: Database) -> None:
    found = _search(seeded, "metrics.auc > 0.8", ["params.model desc"])
    assert found == ["r2", "r1", "r3"]


def test_pages_cover_every_run_once(seeded: Database) -> None:
    order_by = ["params.model", "tags.team desc"]
    pages = [_search(seeded, "", order_by, page=(offset, 2)) for offset in (0, 2, 4)]
    assert [run for page in pages for run in page] == _search(seeded, "", order_by)


def test_cached_statements_keep_each_like_pattern(seeded: Database) -> None:
    # same SQL shape each time: the compiled statement is reused with new patterns
    found = [_search(seeded, f"params.model like '{p}'") for p in ("hgb%", "l%", "HG_", "%")]
    assert [set(f) for f in found] == [{"r1"}, {"r2"}, {"r3"}, {"r1", "r2", "r3", "r4"}]


def test_text_sorts_by_code_point_on_postgresql() -> None:
    stmt = apply_order_by(select(runs.c.id), parse_order_by(["params.model"]))
    assert 'COLLATE "C"' in str(stmt.compile(dialect=postgresql.dialect()))
    assert "COLLATE" not in str(stmt.compile(dialect=sqlite.dialect()))


def test_like_is_glob_on_sqlite() -> None:
    where = compile_filter(parse_filter("params.p like 'a_%*'"))
    compiled = where.compile(dialect=sqlite.dialect())
    assert "GLOB" in str(compiled)
    assert "a?*[*]" in compiled.params.values()


# --- SQL against a pure-Python reading of the same tree --------------------------------

NUMBERS = (-1, 0, 0.5, 1, 2, 0.001)
STORED = st.one_of(st.none(), st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, math.nan]))
COMPARE: dict[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
    Op.IN: lambda value, values: value in values,
    Op.NOT_IN: lambda value, values: value not in values,
}


@st.composite
def metric_comparisons(draw: st.DrawFn) -> Comparison:
    op = draw(st.sampled_from([*COMPARE, Op.IS_NULL, Op.IS_NOT_NULL]))
    value: Any = None
    if op in (Op.IN, Op.NOT_IN):
        value = tuple(draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3)))
    elif op in COMPARE:
        value = draw(st.sampled_from(NUMBERS))
    return metric(draw(st.sampled_from(["a", "b"])), op, value)


def _combine(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    several = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(children.map(Not), several.map(And), several.map(Or))


filters = st.recursive(metric_comparisons(), _combine, max_leaves=6)


def render(expr: Expr) -> str:
    if isinstance(expr, And | Or):
        joiner = " and " if isinstance(expr, And) else " or "
        return "(" + joiner.join(render(item) for item in expr.items) + ")"
    if isinstance(expr, Not):
        return "not " + render(expr.item)
    value = expr.value
    shown = "(" + ", ".join(map(repr, value)) + ")" if isinstance(value, tuple) else repr(value)
    return f"metrics.{expr.key} {expr.op.value}" + ("" if value is None else f" {shown}")


def evaluate(expr: Expr, metrics: dict[str, float | None]) -> bool:
    if isinstance(expr, And):
        return all(evaluate(item, metrics) for item in expr.items)
    if isinstance(expr, Or):
        return any(evaluate(item, metrics) for item in expr.items)
    if isinstance(expr, Not):
        return not evaluate(expr.item, metrics)
    value = metrics.get(expr.key)
    if expr.op in (Op.IS_NULL, Op.IS_NOT_NULL):
        return (value is None) == (expr.op is Op.IS_NULL)
    return value is not None and not math.isnan(value) and COMPARE[expr.op](value, expr.value)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    expr=filters,
    table=st.lists(st.fixed_dictionaries({"a": STORED, "b": STORED}), max_size=6),
)
def test_sql_agrees_with_python(
    db: Database, expr: Expr, table: list[dict[str, float | None]]
) -> None:
    assert parse_filter(render(expr)) == expr
    ids = [f"h{i}" for i in range(len(table))]
    with db.write() as conn:
        conn.execute(delete(latest_metrics))
        conn.execute(delete(runs))
        conn.execute(delete(experiments))
        conn.execute(insert(experiments).values(id="e", name="e", created_at=0))
        for run_id in ids:
            row = {"id": run_id, "experiment_id": "e", "name": run_id, "status": "RUNNING"}
            conn.execute(insert(runs).values(**row, start_time=0))
        present = {
            run_id: {k: v for k, v in metrics.items() if v is not None}
            for run_id, metrics in zip(ids, table, strict=True)
        }
        rows = _metric_rows(present)
        if rows:
            conn.execute(insert(latest_metrics), rows)
    with db.read() as conn:
        found = set(conn.scalars(select(runs.c.id).where(compile_filter(expr))))
    expected = {run_id for run_id, m in zip(ids, table, strict=True) if evaluate(expr, m)}
    assert found == expected
