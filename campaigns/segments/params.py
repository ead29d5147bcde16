"""What a condition is made of: its parameters (for the validator and the builder's form)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from campaigns.segments.values import RuleError


@dataclass(frozen=True)
class Param:
    """One key of a condition. ``kind`` tells the builder which input to draw: ``choice``,
    ``choices`` (several), ``int``, ``decimal``, ``bool``, ``codes`` (comma-separated codes),
    ``code``, ``segment`` (a segment's id). ``parse`` turns the JSON value into the clean one or raises RuleError."""

    name: str
    label: Any
    kind: str
    parse: Callable[[Any], Any]
    choices: Callable[[], list] | None = None
    required: bool = True
    default: Any = None
    help: Any = ""

    def clean(self, rule: dict):
        if self.name not in rule or rule[self.name] is None:
            if self.default is not None:
                return self.parse(self.default)
            if self.required:
                raise RuleError(_("“%(param)s” is missing.") % {"param": self.label})
            return None
        try:
            return self.parse(rule[self.name])
        except RuleError as exc:
            raise RuleError(f"{self.label}: {exc.message}") from None

    def describe(self) -> dict:
        return {
            "name": self.name,
            "label": str(self.label),
            "kind": self.kind,
            "choices": [[str(k), str(v)] for k, v in self.choices()] if self.choices else None,
            "required": self.required,
            "default": self.default,
            "help": str(self.help),
        }


@dataclass(frozen=True)
class Operator:
    code: str
    label: Any


@dataclass(frozen=True)
class Field:
    """A column a trait or profile condition compares. ``kind`` picks the operators and how
    values parse: ``int``, ``decimal``, ``moment`` (a date-time compared by its date),
    ``day``, ``choice``, ``code``, ``tags`` (a list of codes), ``bool``. ``path`` is the lookup
    from Customer; ``build`` a compiler of its own for fields that are no plain column."""

    name: str
    label: Any
    kind: str
    path: str = ""
    choices: Callable[[], list] | None = None
    minimum: int = 0
    maximum: int = 1_000_000_000
    build: Callable | None = field(default=None, compare=False)
    operators: tuple[str, ...] = ()
