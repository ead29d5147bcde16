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


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    default_message = _("No such campaign.")


class InvalidTransition(Conflict):
    """A lifecycle step the campaign's status does not allow (e.g. resuming a finished one)."""

    code = "invalid_campaign_transition"
    default_message = _("The campaign cannot make this change in its current status.")


class CampaignNotReady(DomainError):
    """A campaign that cannot be scheduled yet: ``fields`` names what is missing or wrong."""

    code = "campaign_not_ready"
    default_message = _("The campaign is not ready to be scheduled.")


class InvalidAudienceFile(DomainError):
    """An uploaded audience that cannot be read (not UTF-8, empty, too big, no identifier
    column…): the message names the line; nothing is written. ``fields["file"]`` repeats it."""

    code = "invalid_audience_file"
    default_message = _("The file is not a CSV of e-mails, phones or customer ids.")


class AudienceLocked(Conflict):
    """The audience of a campaign that is sending or over cannot change any more."""

    code = "audience_locked"
    default_message = _("The audience can only change while the campaign is a draft or scheduled.")
