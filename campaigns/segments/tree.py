"""The rule tree: ``{"op": "all"|"any", "rules": [condition | group, ...]}``, validated and
compiled to one Q on Customer. At most ``MAX_DEPTH`` levels of groups and ``MAX_CONDITIONS``
conditions; every problem names its condition by position ("2.1") and label."""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.exceptions import InvalidSegment
from campaigns.models import Segment
from campaigns.segments.conditions import CONDITIONS, Context, MembershipCondition
from campaigns.segments.values import RuleError, describe

MAX_DEPTH = 5
MAX_CONDITIONS = 50
MAX_ERRORS = 20
GROUP_OPS = ("all", "any")


@dataclass
class Walk:
    """One pass over a tree: its problems, its membership references, and (when ``ctx`` is
    given) the compiled conditions."""

    ctx: Context | None = None
    errors: list[str] = field(default_factory=list)
    conditions: int = 0
    references: list[tuple[str, int]] = field(default_factory=list)

    def fail(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)


def _group(node, position: str, depth: int, walk: Walk) -> Q | None:
    where = position or _("the top group")
    if type(node) is not dict or "rules" not in node:
        walk.fail(_("Group %(pos)s: needs “op” and “rules”.") % {"pos": where})
        return None
    if depth > MAX_DEPTH:
        walk.fail(
            _("Group %(pos)s: groups nest at most %(n)s deep.") % {"pos": where, "n": MAX_DEPTH}
        )
        return None
    unknown = sorted(str(k) for k in node if k not in ("op", "rules"))
    op, rules = node.get("op"), node["rules"]
    if unknown or op not in GROUP_OPS or type(rules) is not list:
        walk.fail(
            _("Group %(pos)s: “op” must be “all” or “any” and “rules” a list (got %(v)s).")
            % {"pos": where, "v": describe(op) if op not in GROUP_OPS else describe(rules)}
        )
        return None
    if depth > 1 and not rules:
        walk.fail(_("Group %(pos)s: is empty.") % {"pos": where})
        return None
    parts = [
        _node(rule, f"{position}.{i}" if position else str(i), depth, walk)
        for i, rule in enumerate(rules, 1)
    ]
    if None in parts:
        return None
    combined = Q()
    for part in parts:
        combined = combined & part if op == "all" else combined | part
    return combined


def _node(node, position: str, depth: int, walk: Walk) -> Q | None:
    if type(node) is dict and "rules" in node:
        return _group(node, position, depth + 1, walk)
    walk.conditions += 1
    if walk.conditions > MAX_CONDITIONS:
        if walk.conditions == MAX_CONDITIONS + 1:
            walk.fail(_("A segment takes at most %(n)s conditions.") % {"n": MAX_CONDITIONS})
        return None
    condition = CONDITIONS.get(node.get("type")) if type(node) is dict else None
    if condition is None:
        walk.fail(
            _("Condition %(pos)s: unknown condition type %(v)s.")
            % {"pos": position, "v": describe(node.get("type") if type(node) is dict else node)}
        )
        return None
    try:
        values = condition.clean(node)
        if isinstance(condition, MembershipCondition):
            walk.references.append((position, values["segment"]))
        return condition.compile(values, walk.ctx) if walk.ctx else Q()
    except RuleError as exc:
        walk.fail(
            _("Condition %(pos)s (%(label)s): %(problem)s")
            % {"pos": position, "label": condition.title(node), "problem": exc.message}
        )
        return None


def _raise(errors: list[str]):
    raise InvalidSegment(errors[0], fields={"rules": errors})


def load_rules(pk: int):
    return Segment.objects.filter(pk=pk).values_list("rules", flat=True).first()


def compile_tree(rules, ctx: Context) -> Q:
    walk = Walk(ctx=ctx)
    q = _group(rules, "", 1, walk)
    if walk.errors:
        _raise(walk.errors)
    return q


def compile_rules(
    rules, *, now=None, segment_id: int | None = None, loader: Callable = load_rules
) -> Q:
    """The tree (of segment ``segment_id``, if saved) as one Q on Customer; InvalidSegment
    when it does not validate."""
    chain = (segment_id,) if segment_id else ()
    return compile_tree(rules, Context(now or timezone.now(), loader, chain))


def references_in(rules) -> set[int]:
    """The segments a stored tree names (iterative; stored trees are valid)."""
    found, stack = set(), [rules]
    while stack:
        node = stack.pop()
        if type(node) is dict and type(node.get("rules")) is list:
            stack.extend(node["rules"])
        elif type(node) is dict and node.get("type") == "segment":
            found.add(node.get("segment"))
    return found


def _reachable(start: int) -> tuple[set[int], set[int]]:
    """Every segment reachable from ``start`` through memberships (one query per level), and
    the ones that do not exist."""
    seen, missing, level = set(), set(), {start}
    while level:
        seen |= level
        rows = dict(Segment.objects.filter(pk__in=level).values_list("pk", "rules"))
        missing |= level - rows.keys()
        level = set().union(*(references_in(r) for r in rows.values())) - seen
    return seen, missing


def validate_rules(rules, *, segment_id: int | None = None) -> None:
    """Raise InvalidSegment listing every problem: shape, types, bounds, unknown segments, and
    memberships that would make ``segment_id`` contain itself."""
    walk = Walk()
    _group(rules, "", 1, walk)
    if walk.errors:
        _raise(walk.errors)
    label = MembershipCondition.label
    for position, pk in walk.references:
        reachable, missing = _reachable(pk)
        if pk in missing:
            walk.fail(
                _("Condition %(pos)s (%(label)s): there is no segment #%(pk)s.")
                % {"pos": position, "label": label, "pk": pk}
            )
        elif segment_id is not None and segment_id in reachable:
            walk.fail(
                _("Condition %(pos)s (%(label)s): segment #%(pk)s would contain this segment.")
                % {"pos": position, "label": label, "pk": pk}
            )
    if walk.errors:
        _raise(walk.errors)


def catalogue() -> list[dict]:
    """Every condition type with its parameters and fields, for the builder."""
    return [condition.describe() for condition in CONDITIONS.values()]
