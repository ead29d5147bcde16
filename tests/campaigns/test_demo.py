"""seed_demo's segments: valid trees a marketer can open, seeded once however often it runs."""

import io
import random

import pytest

from campaigns import demo, selectors
from campaigns.models import Segment
from omni.management.commands.seed_demo import DemoContext

pytestmark = pytest.mark.django_db


def test_demo_segments_are_valid_and_seeded_once():
    ctx = DemoContext(stdout=io.StringIO(), style=None, rng=random.Random(1))
    demo.seed(ctx)
    demo.seed(ctx)
    names = list(Segment.objects.order_by("name").values_list("name", flat=True))
    assert names == sorted(name for name, _d, _r in demo.SEGMENTS)
    for segment in Segment.objects.all():
        assert selectors.count_saved_segment(segment) == 0  # no customers here: one valid query


def test_demo_campaigns_go_through_the_real_pipeline_once(settings, tmp_path):
    from campaigns.models import Campaign, Delivery
    from tests.campaigns.pipeline import shopper

    settings.MESSAGING_FILE_DIR = tmp_path
    settings.CAMPAIGN_QUIET_HOURS = ("21:00", "09:00")
    people = [shopper() for _ in range(40)]
    ctx = DemoContext(stdout=io.StringIO(), style=None, rng=random.Random(1))
    demo.seed(ctx)
    demo.seed(ctx)
    statuses = dict(Campaign.objects.values_list("name", "status"))
    assert statuses == {
        demo.WINTER: "finished",
        "Nueva colección primavera": "paused",
        "Carrito abandonado: 10 % de descuento": "draft",
        "Journey: abandoned cart": "sending",  # the abandoned-cart journey, switched on
    }
    winter = Delivery.objects.filter(campaign__name=demo.WINTER)
    assert winter.count() == len(people)
    reached = winter.filter(sent_at__isnull=False)
    assert reached.count() + winter.filter(reason="holdout").count() == len(people)
    assert reached.filter(opened_at__isnull=False).exists()  # the simulated opens
    sent_lines = (tmp_path / "email.jsonl").read_text().splitlines()
    assert len(sent_lines) == Delivery.objects.filter(sent_at__isnull=False).count()
