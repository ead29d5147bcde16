"""Reads of the catalog and locations. Return QuerySets so pagination and filters compose."""

from django.db.models import Max, Min, Prefetch, Q, QuerySet

from inventory.models import Category, Location, Product, Variant


def locations_for_user(user) -> QuerySet[Location]:
    """The one answer to "which locations may this user act on".

    Superusers and holders of ``inventory.act_on_all_locations`` (store managers, back-office
    admins) act on every location; other staff on the locations they are assigned to.
    Admin querysets, API querysets and exports all scope through this.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return Location.objects.none()
    if user.is_superuser or user.has_perm("inventory.act_on_all_locations"):
        return Location.objects.all()
    return Location.objects.filter(staff=user)


def category_with_descendants(categories: QuerySet[Category]) -> set[int]:
    """Ids of the given categories and every category below them (one query for the tree)."""
    roots = set(categories.values_list("pk", flat=True))
    if not roots:
        return set()
    children: dict[int, list[int]] = {}
    for pk, parent_id in Category.objects.values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    found, stack = set(), list(roots)
    while stack:
        pk = stack.pop()
        if pk in found:
            continue
        found.add(pk)
        stack.extend(children.get(pk, ()))
    return found


def catalog_products(*, include_inactive: bool = False) -> QuerySet[Product]:
    """Products with their category, their sellable variants and their price range."""
    variants = Variant.objects.order_by("pk")
    products = Product.objects.all()
    if not include_inactive:
        variants = variants.filter(active=True)
        products = products.filter(active=True)
    return (
        products.select_related("category")
        .prefetch_related(Prefetch("variants", queryset=variants))
        .annotate(
            price_from=Min("variants__price", filter=Q(variants__active=True)),
            price_to=Max("variants__price", filter=Q(variants__active=True)),
        )
        .order_by("name", "pk")
    )


def catalog_variants(*, include_inactive: bool = False) -> QuerySet[Variant]:
    variants = Variant.objects.select_related("product", "product__category")
    if not include_inactive:
        variants = variants.filter(active=True, product__active=True)
    return variants.order_by("pk")


def active_locations() -> QuerySet[Location]:
    return Location.objects.filter(active=True).order_by("kind", "name")
