"""State changes of the campaigns app (typed, keyword-only, atomic, with the acting user):
segments (``segments``), the campaign lifecycle (``lifecycle``) and uploaded audiences
(``audience_upload``); planning and sending live in ``campaigns.planning`` and
``campaigns.sending``."""

from campaigns.services.audience_upload import clear_audience, upload_audience
from campaigns.services.lifecycle import (
    cancel_campaign,
    complete_campaign,
    finish_campaign,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
    start_campaign,
    start_due_campaigns,
    unschedule_campaign,
)
from campaigns.services.segments import (
    DESCRIPTION_LENGTH,
    NAME_LENGTH,
    delete_segment,
    save_segment,
)

__all__ = [
    "DESCRIPTION_LENGTH",
    "NAME_LENGTH",
    "cancel_campaign",
    "clear_audience",
    "complete_campaign",
    "delete_segment",
    "finish_campaign",
    "pause_campaign",
    "resume_campaign",
    "save_segment",
    "schedule_campaign",
    "start_campaign",
    "start_due_campaigns",
    "unschedule_campaign",
    "upload_audience",
]
