"""Trait and profile fields: their operators, how each operator's value parses, and the Q."""

from datetime import timedelta
from functools import partial

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.segments.params import Field, Operator
from campaigns.segments.values import (
    RuleError,
    parse_bool,
    parse_choice,
    parse_code,
    parse_country,
    parse_day,
    parse_decimal,
    parse_int,
    parse_list,
)

OPERATORS = {
    op.code: op
    for op in (
        Operator("=", "="),
        Operator("!=", "≠"),
        Operator("<", "<"),
        Operator("<=", "≤"),
        Operator(">", ">"),
        Operator(">=", "≥"),
        Operator("between", gettext_lazy("between")),
        Operator("in", gettext_lazy("is one of")),
        Operator("is_set", gettext_lazy("is set")),
        Operator("in_last_days", gettext_lazy("in the last … days")),
        Operator("not_in_last_days", gettext_lazy("not in the last … days")),
    )
}
NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=", "between", "in", "is_set")
TIME_OPS = ("<", "<=", ">", ">=", "between", "in_last_days", "not_in_last_days", "is_set")
KIND_OPERATORS = {
    "int": NUMBER_OPS,
    "decimal": NUMBER_OPS,
    "moment": TIME_OPS,
    "day": ("=", "<", "<=", ">", ">=", "between", "is_set"),
    "choice": ("=", "!=", "in", "is_set"),
    "code": ("=", "!=", "in", "is_set"),
    "tags": ("in", "is_set"),
    "bool": ("=",),
    "country": ("=", "!=", "in", "is_set"),
}
LOOKUPS = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
MAX_DAYS = 36_500


def operators_of(spec: Field) -> tuple[str, ...]:
    return spec.operators or KIND_OPERATORS[spec.kind]


def scalar_parser(spec: Field):
    if spec.kind == "int":
        return partial(parse_int, minimum=spec.minimum, maximum=spec.maximum)
    if spec.kind == "decimal":
        return parse_decimal
    if spec.kind in ("moment", "day"):
        return parse_day
    if spec.kind == "choice":
        return partial(parse_choice, choices=spec.choices())
    if spec.kind == "bool":
        return parse_bool
    if spec.kind == "country":
        return parse_country
    return parse_code


def parse_value(spec: Field, op: str, value):
    """The clean value of ``field op value``."""
    if op == "is_set":
        return parse_bool(value)
    if op in ("in_last_days", "not_in_last_days"):
        return parse_int(value, minimum=1, maximum=MAX_DAYS)
    scalar = scalar_parser(spec)
    if op == "in" or spec.kind == "tags":
        return parse_list(value, scalar)
    if op == "between":
        if type(value) is not list or len(value) != 2:
            raise RuleError(_("“between” needs two values, from and to."))
        low, high = scalar(value[0]), scalar(value[1])
        if low > high:
            raise RuleError(_("“between” needs the smaller value first."))
        return [low, high]
    return scalar(value)


def field_q(spec: Field, op: str, value, now) -> Q:
    """The condition on Customer for a plain column (through ``spec.path``)."""
    path = spec.path
    if op == "is_set":
        present = Q(**{f"{path}__isnull": False})
        if spec.kind in ("choice", "code"):
            present &= ~Q(**{path: ""})
        elif spec.kind == "tags":
            present &= ~Q(**{path: []})
        return present if value else ~present
    if op == "in_last_days":
        return Q(**{f"{path}__gte": now - timedelta(days=value)})
    if op == "not_in_last_days":
        return ~Q(**{f"{path}__gte": now - timedelta(days=value)})
    if spec.kind == "moment":
        path = f"{path}__date"
    if spec.kind == "tags":
        return Q(**{f"{path}__has_any_keys": value})
    if op == "in":
        return Q(**{f"{path}__in": value})
    if op == "between":
        return Q(**{f"{path}__gte": value[0], f"{path}__lte": value[1]})
    if op == "!=":
        return ~Q(**{path: value})
    return Q(**{f"{path}__{LOOKUPS[op]}": value})


def describe_field(spec: Field) -> dict:
    return {
        "name": spec.name,
        "label": str(spec.label),
        "kind": spec.kind,
        "operators": [[op, str(OPERATORS[op].label)] for op in operators_of(spec)],
        "choices": [[str(k), str(v)] for k, v in spec.choices()] if spec.choices else None,
        "minimum": spec.minimum if spec.kind == "int" else None,
        "maximum": spec.maximum if spec.kind == "int" else None,
    }
