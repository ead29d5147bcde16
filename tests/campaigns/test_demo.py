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
