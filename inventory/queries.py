"""Inventory's hand-written SQL, each function beside its ORM reference twin.

Every raw statement of the inventory app lives here (and nowhere else): one public function per
use case, typed in and out, whose docstring names the BENCHMARKS.md figure that pays for it.
``omni.sql.enabled()`` (setting ``OMNI_FAST_SQL``) picks the SQL path; off, the ORM twin gives
the same answer. The suite runs the hot-path tests both ways (fixture ``sql_path``).
"""

from functools import cache

from inventory.models import Category, Product, Variant
from omni import sql as fast_sql


def variants_for_checkout(variant_ids: list[int]) -> dict[int, Variant]:
    """Variants by id, each with its product and the product's category loaded (what pricing
    and allocation read at checkout). Unknown ids are left out.

    Fast path: one prepared statement, rows loaded without ``Model.__init__`` — part of the
    checkout's budget (BENCHMARKS.md › Orders › checkout service ≥ 300/s, measured 439/s).
    """
    if not variant_ids:
        return {}
    if not fast_sql.enabled():
        return _variants_for_checkout_orm(variant_ids)
    rows = fast_sql.cursor().execute(_variants_sql(), [list(variant_ids)], prepare=True)
    found = {}
    for row in rows.fetchall():
        variant, i = fast_sql.from_row(Variant, row)
        product, i = fast_sql.from_row(Product, row, i)
        category = fast_sql.from_row(Category, row, i)[0]
        Variant.product.field.set_cached_value(variant, product)
        Product.category.field.set_cached_value(product, category)
        found[variant.pk] = variant
    return found


def _variants_for_checkout_orm(variant_ids: list[int]) -> dict[int, Variant]:
    variants = Variant.objects.filter(pk__in=variant_ids).select_related("product__category")
    return {v.pk: v for v in variants.order_by("pk")}


@cache
def _variants_sql() -> str:
    v, p, c = Variant._meta, Product._meta, Category._meta
    product_fk = v.get_field("product").column
    category_fk = p.get_field("category").column
    return (
        f"SELECT {fast_sql.select_list(Variant, 'v')}, {fast_sql.select_list(Product, 'p')}, "
        f"{fast_sql.select_list(Category, 'c')} "
        f'FROM "{v.db_table}" AS v JOIN "{p.db_table}" AS p ON p.id = v."{product_fk}" '
        f'JOIN "{c.db_table}" AS c ON c.id = p."{category_fk}" '
        "WHERE v.id = ANY(%s) ORDER BY v.id"
    )
