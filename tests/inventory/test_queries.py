"""inventory.queries: each fast function against its ORM reference twin."""

import pytest

from inventory import queries
from tests.factories import VariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]


def _shape(found):
    return {
        pk: (v.sku, v.price, v.product.pk, v.product.name, v.product.category.pk)
        for pk, v in found.items()
    }


def test_variants_for_checkout_loads_product_and_category(django_assert_num_queries):
    a, b = VariantFactory(), VariantFactory()
    with django_assert_num_queries(1 if not queries.fast_sql.enabled() else 0):
        found = queries.variants_for_checkout([b.pk, a.pk, 10**9])
        assert [v.product.category.name for v in found.values()]
    assert list(found) == [a.pk, b.pk]
    assert found[a.pk].product.category == a.product.category


def test_variants_for_checkout_twins_agree(settings):
    ids = [VariantFactory().pk for _ in range(3)]
    settings.OMNI_FAST_SQL = True
    fast = _shape(queries.variants_for_checkout(ids))
    settings.OMNI_FAST_SQL = False
    assert _shape(queries.variants_for_checkout(ids)) == fast
    assert queries.variants_for_checkout([]) == {}
