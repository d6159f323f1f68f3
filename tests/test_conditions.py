"""Tests for cwm_gateway.conditions: parser, checks against a field graph, evaluation, builder."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cwm_gateway import conditions as c
from cwm_gateway.conditions import (
    And,
    Compare,
    Cond,
    ConditionSyntaxError,
    In,
    Not,
    Or,
    and_,
    check_child_conditions,
    check_custom_field_conditions,
    check_field_paths,
    check_fields,
    check_order_by,
    evaluate,
    field_paths,
    in_,
    like,
    not_,
    or_,
    parse,
    to_text,
)
from cwm_gateway.conditions.evaluate import _eval
from cwm_gateway.conditions.syntax import _KEYWORDS
from cwm_gateway.errors import CWMError
from cwm_generated.types import Field, Schema


def F(type_="string", ref=None, *, fmt=None, enum=None, required=False, nullable=False, ml=None):
    return Field(type_, fmt, ref, required, nullable, enum, ml, False)


def S(schema_name, /, **fields):
    return Schema(schema_name, schema_name.replace(".", ""), "test", fields)


INFO = F("object")
SCHEMAS = {
    "Ticket": S(
        "Ticket",
        id=F("integer", fmt="int32"),
        summary=F(required=True, ml=100),
        status=F("object", "ServiceStatusReference"),
        company=F("object", "CompanyReference", required=True),
        board=F("object", "BoardReference"),
        severity=F(enum=("Low", "Medium", "High"), nullable=True),
        budgetHours=F("number", fmt="double", nullable=True),
        closedFlag=F("boolean"),
        requiredDate=F(fmt="date-time"),
        tasks=F("array", "TicketTask"),
        customFields=F("array", "CustomFieldValue"),
        extra=F("object"),
        _info=INFO,
    ),
    "ServiceStatusReference": S(
        "ServiceStatusReference", id=F("integer"), name=F(), sort=F("integer"), _info=INFO
    ),
    "CompanyReference": S(
        "CompanyReference", id=F("integer"), identifier=F(), name=F(), _info=INFO
    ),
    "BoardReference": S("BoardReference", id=F("integer"), name=F(), _info=INFO),
    "TicketTask": S("TicketTask", id=F("integer"), notes=F(), closedFlag=F("boolean")),
    "CustomFieldValue": S("CustomFieldValue", id=F("integer"), caption=F(), value=F("object")),
}


# ------------------------------------------------------------------------------------ parsing


def test_parse_comparisons_and_precedence():
    e = parse('status/name = "Open" and company/identifier like "Ab%" or id in (1, 2, 3)')
    assert e == Or(
        (
            And(
                (
                    Compare("status/name", "=", "Open"),
                    Compare("company/identifier", "like", "Ab%"),
                )
            ),
            In("id", (1, 2, 3)),
        )
    )


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_parse_symbol_operators(op):
    assert parse(f"id{op}5") == Compare("id", op, 5)


def test_keywords_case_insensitive_and_negations():
    e = parse("NOT (a = 1) AND b NOT LIKE 'x%' Or c Not Contains \"y\" oR d not in (true, null)")
    assert e == Or(
        (
            And((Not(Compare("a", "=", 1)), Compare("b", "not like", "x%"))),
            Compare("c", "not contains", "y"),
            In("d", (True, None), negated=True),
        )
    )


def test_values():
    assert parse("a = -12.50").value == Decimal("-12.50")
    assert parse("a = 7").value == 7
    assert parse("a = false").value is False
    assert parse("a = NULL").value is None
    assert parse("a > [2024-01-01T00:00:00Z]").value == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse("a > [2024-01-01]").value == datetime(2024, 1, 1)
    assert parse(r'a = "say \"hi\" \\ o\'k"').value == 'say "hi" \\ o\'k'
    assert parse(r"a = 'it\'s'").value == "it's"
    assert parse(r'a = "C:\temp"').value == "C:\\temp"  # unknown escapes keep the backslash


def test_field_paths_kinds():
    e = parse('_info/lastUpdated > [2024-01-01T00:00:00Z] and customFields/caption = "x"')
    assert field_paths(e) == ["_info/lastUpdated", "customFields/caption"]
    assert field_paths(parse("a=1 or (b=2 and a=3) or not c in (1)")) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "expected a condition"),
        ("a == 1", 2, "use '='"),
        ("a <> 1", 2, "use '!='"),
        ("status/name = Open", 14, 'quote strings: "Open"'),
        ("a = 1 && b = 2", 6, "use 'and' / 'or'"),
        ("(a = 1", 6, "expected ')'"),
        ('a = "open', 4, "unterminated string"),
        ("a = [2024-13-01]", 4, "is not a date"),
        ("a = [2024-01-01", 4, "unterminated date"),
        ("a = 1 b = 2", 6, "'and', 'or'"),
        ("a in 1", 5, "'('"),
        ("a in ()", 6, "expected a value"),
        ("a not = 1", 6, "'like', 'contains' or 'in'"),
        ("a", 1, "expected an operator"),
        ("and = 1", 0, "keyword"),
        ("a = 1 and", 9, "expected a field path"),
    ],
)
def test_syntax_errors_say_where_and_what(text, position, fragment):
    with pytest.raises(ConditionSyntaxError) as info:
        parse(text)
    err = info.value
    assert isinstance(err, CWMError)
    assert err.position == position
    assert fragment in str(err)
    assert err.expected


def test_deep_nesting_is_a_syntax_error_not_recursion_error():
    with pytest.raises(ConditionSyntaxError, match="nest"):
        parse("(" * 5000 + "a=1" + ")" * 5000)
    assert parse("(" * 30 + "a=1" + ")" * 30) == Compare("a", "=", 1)


def test_non_text_is_a_syntax_error():
    with pytest.raises(ConditionSyntaxError):
        parse(5)  # type: ignore[arg-type]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_parse_arbitrary_text_raises_only_syntax_errors(text):
    try:
        parse(text)
    except ConditionSyntaxError:
        pass


_alphabet = string.ascii_letters + string.digits + " ()=<>!,'\"[]%_/-.:\\"
_words = st.sampled_from(["and", "or", "not", "like", "in", "contains", "null", "true", "a/b"])


@settings(max_examples=300)
@given(st.lists(st.one_of(st.text(alphabet=_alphabet, max_size=6), _words), max_size=12))
def test_parse_condition_like_soup_raises_only_syntax_errors(parts):
    text = " ".join(parts)
    try:
        e = parse(text)
    except ConditionSyntaxError:
        return
    assert parse(to_text(e)) == e


# ------------------------------------------------------------------------------------ builder


def test_builder_renders_escaped_text():
    e = (Cond("status/name") == 'Say "hi"\\') & Cond("board/id").in_([1, 2]) | ~Cond("x").like("a%")
    assert to_text(e) == (
        r'status/name = "Say \"hi\"\\" and board/id in (1, 2) or not (x like "a%")'
    )
    assert parse(to_text(e)) == e


def test_builder_functions_and_values():
    d = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    e = and_(
        Cond("a") != None,  # noqa: E711 - builds "a != null"
        Cond("b") >= 1.5,
        Cond("c") < d,
        Cond("d") <= date(2024, 1, 2),
        Cond("e") > 3.0,
        like("f", "x_%"),
        c.contains("g", "it's"),
        in_("h", ["x", None, True]),
        Cond("i").not_in([1]),
        Cond("j").not_like("q"),
        Cond("k").not_contains("r"),
        Cond("l").is_null(),
        Cond("m").is_not_null(),
    )
    assert to_text(e) == (
        "a != null and b >= 1.5 and c < [2024-05-01T12:30:00Z] and d <= [2024-01-02T00:00:00Z]"
        ' and e > 3 and f like "x_%" and g contains "it\'s" and h in ("x", null, true)'
        ' and i not in (1) and j not like "q" and k not contains "r" and l = null and m != null'
    )
    assert parse(to_text(e)) == e


def test_builder_flattens_and_keeps_structure():
    a, b, cc = (Cond(x) == 1 for x in "abc")
    assert (a & b) & cc == And((a, b, cc))
    assert a | (b | cc) == Or((a, b, cc))
    assert and_(a) is a
    assert to_text(a & (b | cc)) == "a = 1 and (b = 1 or c = 1)"
    # Hand-made nested groups keep their parentheses so the tree survives a round trip.
    nested = And((And((a, b)), cc))
    assert to_text(nested) == "(a = 1 and b = 1) and c = 1"
    assert parse(to_text(nested)) == nested
    assert str(not_(a)) == "not (a = 1)"


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Cond("status name"),
        lambda: Cond("a//b"),
        lambda: Cond("and"),
        lambda: Cond("a") == float("nan"),
        lambda: Cond("a") == object(),
        lambda: Cond("a").in_([]),
        lambda: Cond("a").in_("abc"),
        lambda: Cond("a").like(5),
        lambda: and_(),
        lambda: or_("a = 1"),
    ],
)
def test_builder_rejects_bad_input(bad):
    with pytest.raises((ValueError, TypeError)):
        bad()


# Strategies producing arbitrary ASTs.
_segment = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: s.lower() not in _KEYWORDS
)
_path = st.lists(_segment, min_size=1, max_size=3).map("/".join)
_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.text(max_size=12),
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5, minutes=-30))]),
    ),
)
_leaf = st.one_of(
    st.builds(Compare, _path, st.sampled_from(c.COMPARE_OPS), _value),
    st.builds(In, _path, st.lists(_value, min_size=1, max_size=4).map(tuple), st.booleans()),
)
_expr = st.recursive(
    _leaf,
    lambda kids: st.one_of(
        st.builds(Not, kids),
        st.lists(kids, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(kids, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
    ),
    max_leaves=8,
)


@settings(max_examples=300)
@given(_expr)
def test_to_text_round_trips_through_parse(expr):
    text = to_text(expr)
    assert parse(text) == expr
    assert to_text(parse(text)) == text


@settings(max_examples=200)
@given(_path, st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none()))
def test_builder_equality_round_trips(path, value):
    e = Cond(path) == value
    assert parse(to_text(e)) == e
    assert evaluate(e, _nest(path, value)) is (value is not None or True)


def _nest(path, value):
    record = value
    for seg in reversed(path.split("/")):
        record = {seg: record}
    return record


# ------------------------------------------------------------------------------------ checks


def test_unknown_field_with_did_you_mean_and_valid_names():
    [p] = check_field_paths('statuss/name = "Open"', "Ticket", schemas=SCHEMAS)
    assert p.where == "query.conditions"
    assert p.message == "'statuss/name' is not a field of Ticket"
    assert "did you mean 'status/name'?" in p.hint
    assert "summary" in p.hint


def test_unknown_nested_field_names_the_inner_schema():
    [p] = check_field_paths('status/nam = "Open"', "Ticket", schemas=SCHEMAS)
    assert "'nam' is not a field of ServiceStatusReference" in p.message
    assert "'status/name'" in p.hint


def test_valid_paths_pass():
    text = (
        'status/name = "Open" and company/identifier like "A%" and id in (1,2) '
        "and _info/lastUpdated > [2024-01-01T00:00:00Z] and customFields/anything = 1 "
        "and tasks/notes contains \"x\" and extra/whatever = 1 and STATUS/Name = 'x' "
        "and severity = 'high' and budgetHours > 2.5 and closedFlag = false and board/id = null"
    )
    assert check_field_paths(text, "Ticket", schemas=SCHEMAS) == []
    assert check_field_paths(parse("id = 1"), "Ticket", schemas=SCHEMAS) == []


def test_check_reports_each_bad_field_once_and_syntax_errors():
    problems = check_field_paths("foo = 1 or foo = 2 or bar = 3", "Ticket", schemas=SCHEMAS)
    assert [p.message for p in problems] == [
        "'foo' is not a field of Ticket",
        "'bar' is not a field of Ticket",
    ]
    [p] = check_field_paths("id == 1", "Ticket", "childConditions", schemas=SCHEMAS)
    assert p.where == "query.childConditions"
    assert "use '='" in p.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('status = "Open"', "'status' is an object (ServiceStatusReference)"),
        ("summary/x = 1", "'summary' is a string and has no sub-fields"),
        ('requiredDate > "2024-01-01"', "dates go in square brackets"),
        ('id = "abc"', "'id' is a number"),
        ("closedFlag = 1", "true/false"),
        ('severity = "Urgent"', "'Urgent' is not a value of 'severity'"),
        ('id like "1%"', "'like' needs a text field"),
        ("summary contains 5", "needs a quoted string"),
    ],
)
def test_value_type_problems(text, fragment):
    problems = check_field_paths(text, "Ticket", schemas=SCHEMAS)
    assert len(problems) == 1, problems
    assert fragment in str(problems[0])


def test_unknown_schema_checks_syntax_only():
    assert check_field_paths("nope = 1", "NoSuchSchema", schemas=SCHEMAS) == []
    assert len(check_field_paths("nope = ", "NoSuchSchema", schemas=SCHEMAS)) == 1


def test_child_conditions():
    assert check_child_conditions("tasks/closedFlag = false", "Ticket", schemas=SCHEMAS) == []
    [p] = check_child_conditions("tasks/note = 'x'", "Ticket", schemas=SCHEMAS)
    assert "'tasks/notes'" in p.hint


def test_order_by():
    assert check_order_by("id desc, status/name ASC , summary", "Ticket", schemas=SCHEMAS) == []
    problems = check_order_by("id downward, statuss/name, , status", "Ticket", schemas=SCHEMAS)
    assert [p.where for p in problems] == ["query.orderBy"] * 4
    text = " | ".join(map(str, problems))
    assert "'id downward' is not 'field [asc|desc]'" in text
    assert "did you mean 'status/name'" in text
    assert "sort by one of its fields" in text
    assert "empty sort field" in text
    assert "'status' is an object" in text
    assert check_order_by(3, "Ticket", schemas=SCHEMAS)[0].where == "query.orderBy"


def test_fields():
    assert check_fields("id,summary, status , status/name,_info", "Ticket", schemas=SCHEMAS) == []
    problems = check_fields("id,sumary,a b", "Ticket", schemas=SCHEMAS)
    assert len(problems) == 2
    assert "did you mean 'summary'" in problems[0].hint
    assert "is not a field path" in problems[1].message


def test_custom_field_conditions():
    assert check_custom_field_conditions('caption = "Region" and value = "EU"') == []
    assert check_custom_field_conditions("someOtherThing = 1") == []  # lenient
    [p] = check_custom_field_conditions('captoin = "Region"')
    assert "did you mean 'caption'" in p.hint
    [p] = check_custom_field_conditions("caption = Region")
    assert p.where == "query.customFieldConditions"


# ------------------------------------------------------------------------------------ evaluate

TICKET = {
    "id": 42,
    "summary": "Printer on fire ",
    "status": {"id": 1, "name": "Open"},
    "company": {"identifier": "AcmeCorp"},
    "budgetHours": 2.5,
    "closedFlag": False,
    "severity": None,
    "_info": {"lastUpdated": "2024-03-01T10:00:00Z"},
    "tasks": [{"notes": "call back", "done": True}, {"notes": "replace toner", "done": False}],
    "tags": ["red", "Blue"],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('status/name = "open"', True),  # case-insensitive
        ('STATUS/NAME = "OPEN"', True),  # field names too
        ('summary = "printer on fire"', True),  # trailing spaces ignored, as in SQL Server
        ('status/name != "Open"', False),
        ("id = 42 and id >= 42 and id <= 42 and id > 41 and id < 43", True),
        ('id = "42"', True),  # numeric strings compare numerically
        ("budgetHours > 2.25 and budgetHours < 3", True),
        ("budgetHours = 2.50", True),
        ('company/identifier like "acme%"', True),
        ('company/identifier like "a_mecorp"', True),
        ('company/identifier like "acme"', False),
        ('company/identifier like "%.%"', False),  # regex characters are literal
        ('company/identifier not like "x%"', True),
        ('summary contains "ON FIRE"', True),
        ('summary not contains "water"', True),
        ("id in (1, 42)", True),
        ("id not in (1, 2)", True),
        ('status/name in ("closed", "OPEN")', True),
        ("closedFlag = false", True),
        ("closedFlag = true", False),
        ("severity = null", True),
        ("missing = null", True),
        ("severity != null", False),
        ('severity = "High"', False),
        ('severity != "High"', False),  # null compared is unknown, not true
        ('not (severity = "High")', False),  # unknown stays unknown under not
        ('severity = "High" or id = 42', True),
        ('severity = "High" and id = 42', False),
        ("not (severity = null)", False),
        ("_info/lastUpdated > [2024-02-29T23:59:59Z]", True),
        ("_info/lastUpdated < [2024-03-01T10:00:00]", False),  # naive dates are UTC
        ("_info/lastUpdated = [2024-03-01T11:00:00+01:00]", True),
        ('tasks/notes = "Call Back"', True),  # any child matches
        ('tasks/notes like "%toner"', True),
        ('tasks/notes != "call back"', False),  # no child may match
        ("tasks/done = false", True),
        ('tags = "blue"', True),
        ("status = 1", False),  # objects are not values
        ('id = "abc"', False),
        ('id like "4%"', True),
    ],
)
def test_evaluate(text, expected):
    assert evaluate(parse(text), TICKET) is expected
    assert evaluate(text, TICKET) is expected


@settings(max_examples=200)
@given(
    st.dictionaries(st.sampled_from(["a", "b"]), st.one_of(st.none(), st.integers(-3, 3))),
    _leaf.filter(lambda e: e.field in ("a", "b"))
    | st.builds(
        Compare,
        st.sampled_from(["a", "b"]),
        st.sampled_from(c.COMPARE_OPS[:6]),
        st.one_of(st.none(), st.integers(-3, 3)),
    ),
)
def test_evaluate_is_three_valued(record, leaf):
    """not/and/or follow SQL's three-valued logic: e and not e never both match."""
    assert not (evaluate(leaf, record) and evaluate(Not(leaf), record))
    assert evaluate(leaf | Not(leaf), record) == (_eval(leaf, record) is not None)
    assert evaluate(leaf & Not(leaf), record) is False


@settings(max_examples=200)
@given(
    st.integers(-50, 50),
    st.integers(-50, 50),
    st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
)
def test_evaluate_numbers_like_python(x, y, op):
    import operator

    py = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le}
    py |= {">": operator.gt, ">=": operator.ge}
    assert evaluate(Compare("n", op, y), {"n": x}) is py[op](x, y)
    assert evaluate(Compare("n", op, y), {"n": float(x)}) is py[op](x, y)


def test_top_level_audit_fields_are_allowed_where_info_exists():
    text = "lastUpdated > [2024-01-01T00:00:00Z] and dateEntered < [2025-01-01] and enteredBy = 'x'"
    assert check_field_paths(text, "Ticket", schemas=SCHEMAS) == []
    assert check_order_by("lastUpdated desc", "Ticket", schemas=SCHEMAS) == []
    assert len(check_field_paths("lastUpdated > 1", "TicketTask", schemas=SCHEMAS)) == 1


def test_the_agent_guide_examples_are_valid_ticket_conditions():
    from cwm_gateway.conditions.guide import GUIDE

    examples = [line.strip() for line in GUIDE.splitlines() if line.startswith("    ")]
    assert len(examples) == 4
    for text in examples:
        assert check_field_paths(text, "Ticket") == [], text


def test_misspelt_audit_fields_suggest_the_audit_names():
    (problem,) = check_order_by("dateEntred desc", "Ticket")
    assert "did you mean 'dateEntered'" in problem.hint
