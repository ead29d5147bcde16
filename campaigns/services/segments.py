"""State changes of the campaigns app (typed, keyword-only, atomic, with the acting user)."""

from django.db import transaction
from django.utils.translation import gettext as _

from campaigns import selectors
from campaigns.exceptions import InvalidSegment, SegmentInUse
from campaigns.models import Segment
from campaigns.segments import validate_rules
from omni.text import is_storable

NAME_LENGTH = Segment._meta.get_field("name").max_length
DESCRIPTION_LENGTH = 2000


def _clean_text(value, field: str, *, maximum: int, required: bool) -> str:
    if type(value) is not str or not is_storable(value):
        raise InvalidSegment(
            _("The %(f)s must be plain text.") % {"f": field},
            fields={field: [_("Plain text only.")]},
        )
    value = value.strip()
    if (required and not value) or len(value) > maximum:
        message = _("Between 1 and %(n)s characters.") % {"n": maximum}
        raise InvalidSegment(message, fields={field: [message]})
    return value


@transaction.atomic
def save_segment(
    *, segment: Segment | None = None, name: str, rules, acting_user, description: str = ""
) -> Segment:
    """Create (``segment=None``) or change a segment after validating its name and rule tree
    (InvalidSegment naming every problem; nothing is written then)."""
    name = _clean_text(name, "name", maximum=NAME_LENGTH, required=True)
    description = _clean_text(
        description, "description", maximum=DESCRIPTION_LENGTH, required=False
    )
    if segment is not None:
        segment = Segment.objects.select_for_update().get(pk=segment.pk)
    validate_rules(rules, segment_id=segment.pk if segment else None)
    if segment is None:
        segment = Segment(created_by=acting_user)
    segment.name, segment.description, segment.rules = name, description, rules
    segment.updated_by = acting_user
    segment.save()
    return segment


@transaction.atomic
def delete_segment(*, segment: Segment, acting_user) -> None:
    """Delete a segment no other segment includes (SegmentInUse names those that do)."""
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    naming = selectors.segments_naming(segment)
    if naming:
        raise SegmentInUse(
            _("Other segments include this one: %(names)s.")
            % {"names": ", ".join(s.name for s in naming[:5])}
        )
    segment.delete()
