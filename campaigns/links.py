"""Tracking put into an e-mail as it is sent: every web link through the click redirect (a
signed token per delivery and target, the campaign's UTM tags added at the redirect) and the
open pixel at the end of the HTML.

A regular-expression pass over our own templates' output, like ``content.html_to_text``: the
send loop renders thousands of messages a second (bench/campaigns_render.py). Links that are
not http(s) (``mailto:``, ``tel:``, anchors) and the unsubscribe link are left alone: the
unsubscribe link must work as written (RFC 8058) and is not engagement. SMS and push bodies
keep their links as written: a redirect token would cost an SMS its segments.
"""

import html
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.text import slugify

from campaigns import tracking

_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.I | re.S)
_URL = re.compile(r"""https?://[^\s<>"'()]+""", re.I)
_BODY_END = re.compile(r"</body\s*>", re.I)
_TRAILING = ".,;:!?"  # sentence punctuation after a URL in plain text is not part of it


def campaign_tag(campaign) -> str:
    """The campaign's ``utm_campaign``: its own tag, else its name as a slug, else its id."""
    return campaign.utm_campaign or slugify(campaign.name)[:100] or f"campaign-{campaign.pk}"


@dataclass(frozen=True)
class Tracker:
    """Tracking for one delivery's message."""

    delivery_id: int
    channel: str
    campaign_tag: str
    keep: frozenset = frozenset()  # URLs left as they are (the unsubscribe link)
    # One token per target: the HTML and its text part name the same links (signing is the
    # cost of tracking; bench/campaigns_plan.py --send).
    signed: dict = field(default_factory=dict, compare=False, repr=False)

    def click_url(self, target: str) -> str:
        if target in self.keep or not tracking.is_web_url(target):
            return target
        if target not in self.signed:
            token = tracking.click_token(
                self.delivery_id, target, channel=self.channel, campaign_slug=self.campaign_tag
            )
            self.signed[target] = settings.CAMPAIGN_CLICK_URL.format(token=token)
        return self.signed[target]

    def pixel(self) -> str:
        url = settings.CAMPAIGN_OPEN_URL.format(token=tracking.open_token(self.delivery_id))
        return f'<img src="{html.escape(url)}" width="1" height="1" alt="" style="border:0">'


def track_html(source: str, tracker: Tracker, *, pixel: bool = True) -> str:
    """``source`` with each web ``href`` through the click redirect and, when ``pixel``, the
    open pixel before ``</body>`` (or at the end)."""

    def link(match) -> str:
        target = html.unescape(match[3])
        return f"{match[1]}{match[2]}{html.escape(tracker.click_url(target))}{match[2]}"

    tracked = _HREF.sub(link, source)
    if not pixel:
        return tracked
    ends = list(_BODY_END.finditer(tracked))
    if not ends:
        return tracked + tracker.pixel()
    at = ends[-1].start()
    return tracked[:at] + tracker.pixel() + tracked[at:]


def track_text(source: str, tracker: Tracker) -> str:
    """A plain-text part with each web URL through the click redirect."""

    def link(match) -> str:
        url = match[0]
        stripped = url.rstrip(_TRAILING)
        return tracker.click_url(stripped) + url[len(stripped) :]

    return _URL.sub(link, source)
