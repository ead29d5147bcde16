"""Segments: a rule tree of typed conditions compiled to one query on Customer.

``validate_rules`` checks a tree (shape, value types, bounds, memberships without cycles),
``compile_rules`` turns it into a Q, ``catalogue`` describes the condition types for the
admin's builder. Reads go through ``campaigns.selectors``; writes through ``campaigns.services``.
"""

from campaigns.segments.tree import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    catalogue,
    compile_rules,
    references_in,
    validate_rules,
)

__all__ = [
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "catalogue",
    "compile_rules",
    "references_in",
    "validate_rules",
]
