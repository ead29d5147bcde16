"""The campaign's sales and uplift on its results page: revenue under each model, split by the
channel and store of the sale, and the treated-versus-holdout uplift by intention to treat."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from campaigns import reports
from campaigns.models import Conversion, Delivery
from customers.models import Customer
from omni import roles
from orders.models import Fulfilment, Order, OrderStatus
from tests.campaigns.pipeline import campaign
from tests.factories import LocationFactory, UserFactory

pytestmark = pytest.mark.django_db
T = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


def assigned(made, n, *, holdout=False):
    people = Customer.objects.bulk_create([Customer(first_name="X") for _ in range(n)])
    rows = Delivery.objects.bulk_create(
        [
            Delivery(
                campaign=made,
                customer=person,
                channel="email",
                status="suppressed" if holdout else "sent",
                reason="holdout" if holdout else "",
                sent_at=None if holdout else T,
                created_at=T,
            )
            for person in people
        ]
    )
    return rows


def buy(row, *, total="50.00", channel="store", store=None, last="1", touch="message"):
    order = Order.objects.create(
        customer_id=row.customer_id,
        channel=channel,
        fulfilment=Fulfilment.COUNTER if store else Fulfilment.SHIP,
        location=store,
        status=OrderStatus.COMPLETED,
        subtotal=Decimal(total),
        discount_total=0,
        shipping_total=0,
        tax_total=0,
        total=Decimal(total),
    )
    held = row.reason == "holdout"
    Conversion.objects.create(
        order=order,
        delivery=row,
        campaign_id=row.campaign_id,
        customer_id=row.customer_id,
        touch="holdout" if held else touch,
        touched_at=T,
        order_channel=channel,
        store=store,
        revenue=order.total,
        credit_last=Decimal(0) if held else Decimal(last),
        credit_first=Decimal(0) if held else Decimal(1),
        credit_linear=Decimal(0) if held else Decimal(last),
    )
    return order


def test_sales_by_model_channel_and_store():
    made = campaign()
    rows = assigned(made, 4)
    sol = LocationFactory(name="Omni Sol")
    buy(rows[0], total="100.00", store=sol)
    buy(rows[1], total="40.00", channel="web")
    buy(rows[2], total="60.00", store=sol, last="0")  # credited to another campaign's touch
    result = reports.sales(made)
    assert result["orders"] == 2
    assert result["revenue"] == {
        "last": Decimal("140.00"),
        "first": Decimal("200.00"),
        "linear": Decimal("140.00"),
    }
    assert [(r["channel"], r["orders"], r["revenue"]) for r in result["by_channel"]] == [
        ("Store", 1, Decimal("100.00")),
        ("Web", 1, Decimal("40.00")),
    ]
    assert result["by_store"] == [{"store": "Omni Sol", "orders": 1, "revenue": Decimal("100.00")}]


def test_uplift_counts_every_assigned_customer_and_each_order_once():
    made = campaign(holdout=10)
    treated = assigned(made, 200)
    holdout = assigned(made, 100, holdout=True)
    for row in treated[:30]:
        buy(row)
    for row in holdout[:5]:
        buy(row)
    second = Delivery.objects.create(  # a second message to a buyer, for the same order
        campaign=made, customer_id=treated[0].customer_id, step=1, status="sent", sent_at=T
    )
    first_order = Conversion.objects.get(delivery=treated[0]).order
    Conversion.objects.create(
        order=first_order,
        delivery=second,
        campaign=made,
        customer_id=second.customer_id,
        touch="message",
        touched_at=T,
        order_channel="store",
        revenue=first_order.total,
        credit_last=0,
        credit_first=0,
        credit_linear=0,
    )
    result = reports.uplift(made)
    assert (result.treated, result.converted_treated) == (200, 30)
    assert (result.holdout, result.converted_holdout) == (100, 5)
    assert result.conversion.estimate == pytest.approx(0.15 - 0.05)
    assert result.conversion.significant
    assert result.revenue_per_customer.estimate == pytest.approx(30 * 50 / 200 - 5 * 50 / 100)


def test_the_results_page_shows_sales_and_uplift_in_both_languages():
    made = campaign(holdout=10)
    treated = assigned(made, 50)
    holdout = assigned(made, 50, holdout=True)
    for row in treated[:20]:
        buy(row, store=LocationFactory(name="Omni Sol"))
    buy(holdout[0])
    client = Client()
    client.force_login(UserFactory(role=roles.MARKETER))
    url = reverse("admin:campaigns_campaign_results", args=[made.pk])
    html = client.get(url).content.decode()
    assert 'id="results-sales"' in html and "Omni Sol" in html
    assert 'id="results-uplift"' in html and "The campaign made more shoppers buy" in html
    spanish = client.get(url, headers={"accept-language": "es"}).content.decode()
    assert "Omni Sol" in spanish and 'id="results-significance"' in spanish
    for svg_number in ("x1=", "cx="):
        assert "," not in spanish.split(svg_number)[1].split('"')[1]


def test_no_holdout_no_uplift():
    made = campaign()
    assigned(made, 10)
    assert reports.uplift(made).conversion is None


def test_a_converted_message_counts_as_clicked_only_if_it_was():
    made = campaign()
    bought_at_till, clicked_then_bought = assigned(made, 2)
    Delivery.objects.filter(pk=bought_at_till.pk).update(status="converted")
    Delivery.objects.filter(pk=clicked_then_bought.pk).update(
        status="converted", opened_at=T, clicked_at=T
    )
    groups = reports.groups(made)
    assert (groups["treated"], groups["opened"], groups["clicked"]) == (2, 1, 1)


def test_the_results_page_reads_the_same_number_of_queries_for_more_sales():
    made = campaign(holdout=10)
    treated = assigned(made, 60)
    holdout = assigned(made, 20, holdout=True)
    client = Client()
    client.force_login(UserFactory(role=roles.MARKETER))
    url = reverse("admin:campaigns_campaign_results", args=[made.pk])
    buy(treated[0])
    buy(holdout[0])
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for row in treated[1:30] + holdout[1:5]:
        buy(row, store=LocationFactory())
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(few) == len(many)
