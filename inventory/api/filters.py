import django_filters
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from inventory.models import Category, Location, LocationKind, Product, Variant
from inventory.selectors import category_with_descendants


class ProductFilter(django_filters.FilterSet):
    """Catalog filters. Size, colour and price apply to one and the same variant."""

    category = django_filters.ModelMultipleChoiceFilter(
        queryset=Category.objects.all(),
        to_field_name="slug",
        method="filter_category",
        label=_("Category slug (includes its sub-categories); repeat for several"),
    )
    size = django_filters.CharFilter(method="filter_noop", label=_("Variant size"))
    colour = django_filters.CharFilter(method="filter_noop", label=_("Variant colour"))
    price_min = django_filters.NumberFilter(method="filter_noop", label=_("Minimum variant price"))
    price_max = django_filters.NumberFilter(method="filter_noop", label=_("Maximum variant price"))
    q = django_filters.CharFilter(method="filter_search", label=_("Text search"))

    class Meta:
        model = Product
        fields = ["category", "size", "colour", "price_min", "price_max", "q", "brand"]

    def filter_noop(self, queryset, name, value):
        return queryset  # applied together in filter_queryset

    def filter_category(self, queryset, name, value):
        if not value:
            return queryset
        ids = category_with_descendants(Category.objects.filter(pk__in=[c.pk for c in value]))
        return queryset.filter(category_id__in=ids)

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        sku_match = Variant.objects.filter(product=OuterRef("pk"), sku__iexact=value)
        return queryset.filter(
            Q(name__icontains=value)
            | Q(description__icontains=value)
            | Q(brand__icontains=value)
            | Exists(sku_match)
        )

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        condition = Q()
        if data.get("size"):
            condition &= Q(size__iexact=data["size"])
        if data.get("colour"):
            condition &= Q(colour__iexact=data["colour"])
        if data.get("price_min") is not None:
            condition &= Q(price__gte=data["price_min"])
        if data.get("price_max") is not None:
            condition &= Q(price__lte=data["price_max"])
        if condition:
            matching = Variant.objects.filter(condition, product=OuterRef("pk"), active=True)
            queryset = queryset.filter(Exists(matching))
        return queryset

    def is_valid(self):
        valid = super().is_valid()
        if valid:
            low, high = (
                self.form.cleaned_data.get("price_min"),
                self.form.cleaned_data.get("price_max"),
            )
            if low is not None and high is not None and low > high:
                self.form.add_error("price_max", _("Must not be below price_min."))
                return False
        return valid


class VariantFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter(field_name="sku", lookup_expr="iexact")
    gtin = django_filters.CharFilter(field_name="gtin")
    size = django_filters.CharFilter(field_name="size", lookup_expr="iexact")
    colour = django_filters.CharFilter(field_name="colour", lookup_expr="iexact")

    class Meta:
        model = Variant
        fields = ["product", "sku", "gtin", "size", "colour"]


class LocationFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=LocationKind.choices)
    city = django_filters.CharFilter(field_name="city", lookup_expr="iexact")

    class Meta:
        model = Location
        fields = [
            "kind",
            "city",
            "is_pickup_point",
            "ships_to_customers",
            "sells_online",
            "country",
        ]
