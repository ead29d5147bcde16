"""The campaigns app's domain errors (each with a stable ``code``; see ``omni.exceptions``)."""

from django.utils.translation import gettext_lazy as _

from omni.exceptions import Conflict, DomainError, NotFound


class InvalidSegment(DomainError):
    """A rule tree that does not validate: ``fields["rules"]`` lists every problem, each naming
    its condition by position and label."""

    code = "invalid_segment"
    default_message = _("The segment's rules are not valid.")


class SegmentNotFound(NotFound):
    code = "segment_not_found"
    default_message = _("No such segment.")


class SegmentInUse(Conflict):
    code = "segment_in_use"
    default_message = _("Other segments include this one; change them first.")
