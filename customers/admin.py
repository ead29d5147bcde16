import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Prefetch
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from customers import selectors, services
from customers.exceptions import InvalidIdentifier
from customers.identifiers import normalise
from customers.models import (
    BlockedIdentifier,
    ConsentChannel,
    ConsentPurpose,
    ConsentSource,
    Customer,
    CustomerStatus,
    Erasure,
    Identity,
    Merge,
    MergeReview,
    PhoneVerification,
    ReviewStatus,
    Suppression,
    SuppressionReason,
)
from omni.admin_mixins import ReadOnlyAdminMixin
from omni.exceptions import DomainError


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=ConsentChannel.choices)
    purpose = forms.ChoiceField(label=_("Purpose"), choices=ConsentPurpose.choices)
    granted = forms.TypedChoiceField(
        label=_("Choice"),
        choices=[("1", _("Grants")), ("0", _("Withdraws"))],
        coerce=lambda v: v == "1",
    )
    wording_version = forms.CharField(label=_("Wording version"), max_length=40, required=False)


class IdentityInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Identity
    extra = 0
    fields = ["kind", "value", "verified", "source", "last_seen_at"]
    readonly_fields = fields


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """The customer 360 page for clienteling at the counter."""

    list_display = ["__str__", "main_contact", "status", "orders", "revenue", "created_at"]
    list_filter = ["status", "is_anonymous"]
    search_fields = ["first_name", "last_name"]
    search_help_text = _("Name, e-mail, phone or loyalty card.")
    fields = ["first_name", "last_name", "birth_date", "preferred_language", "home_store"]
    inlines = [IdentityInline]
    actions = ["merge_selected"]
    change_form_template = "admin/customers/customer/change_form.html"
    list_per_page = 50
    show_full_result_count = False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("traits")
            .prefetch_related(Prefetch("identities", queryset=Identity.objects.order_by("kind")))
        )

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        matches = selectors.search_customers(search_term).values("pk")
        return queryset.filter(pk__in=matches), False

    def has_delete_permission(self, request, obj=None):
        return False  # people are erased (GDPR), not deleted

    @admin.display(description=_("e-mail / phone"))
    def main_contact(self, obj):
        values = [i.value for i in obj.identities.all() if i.kind in ("email", "phone")]
        return ", ".join(values[:2])

    @admin.display(description=_("orders"))
    def orders(self, obj):
        traits = getattr(obj, "traits", None)
        return traits.orders_count if traits else 0

    @admin.display(description=_("revenue"))
    def revenue(self, obj):
        traits = getattr(obj, "traits", None)
        return traits.revenue if traits else 0

    def change_view(self, request, object_id, form_url="", extra_context=None):
        customer = self.get_object(request, object_id)
        if customer is None:
            raise Http404
        if request.method == "POST" and "record_consent" in request.POST:
            return self._record_consent(request, customer)
        traits = getattr(customer, "traits", None)
        extra_context = {
            **(extra_context or {}),
            "timeline": selectors.timeline(customer, limit=50),
            "consents_now": sorted(
                services.current_consents(customer).values(), key=lambda c: (c.channel, c.purpose)
            ),
            "consent_history": selectors.consent_history(customer)[:50],
            "traits": traits,
            "consent_form": ConsentForm(),
            "can_export": request.user.has_perm("customers.export_customer"),
            "can_erase": request.user.has_perm("customers.erase_customer"),
            "can_consent": request.user.has_perm("customers.add_consent"),
            "merges": customer.merges.select_related("absorbed")[:20],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _record_consent(self, request, customer):
        if not request.user.has_perm("customers.add_consent"):
            raise PermissionDenied
        form = ConsentForm(request.POST)
        url = reverse("admin:customers_customer_change", args=[customer.pk])
        if not form.is_valid():
            messages.error(request, _("The consent form has errors: %(e)s") % {"e": form.errors})
            return HttpResponseRedirect(url)
        try:
            services.set_consent(
                customer=customer,
                source=ConsentSource.STORE,
                staff=request.user,
                evidence={"taken_at": "store counter"},
                **form.cleaned_data,
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Consent recorded."))
        return HttpResponseRedirect(url)

    def get_urls(self):
        return [
            path(
                "<int:pk>/export/",
                self.admin_site.admin_view(self.export_view),
                name="customers_customer_export",
            ),
            path(
                "<int:pk>/erase/",
                self.admin_site.admin_view(self.erase_view),
                name="customers_customer_erase",
            ),
            path(
                "merge/<int:a>/<int:b>/",
                self.admin_site.admin_view(self.merge_view),
                name="customers_customer_merge",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request, pk):
        if not request.user.has_perm("customers.export_customer"):
            raise PermissionDenied
        customer = Customer.objects.filter(pk=pk).first()
        if customer is None:
            raise Http404
        data = json.dumps(services.export_customer(customer), cls=DjangoJSONEncoder, indent=2)
        response = HttpResponse(data, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="customer-{pk}.json"'
        return response

    def erase_view(self, request, pk):
        if not request.user.has_perm("customers.erase_customer"):
            raise PermissionDenied
        customer = Customer.objects.filter(pk=pk).first()
        if customer is None:
            raise Http404
        if request.method == "POST" and request.POST.get("confirm") == "ERASE":
            services.erase_customer(
                customer=customer, acting_user=request.user, reason=request.POST.get("reason", "")
            )
            messages.success(request, _("The customer's personal data was erased."))
            return HttpResponseRedirect(reverse("admin:customers_customer_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Erase %(c)s") % {"c": customer},
            "customer": customer,
            "wrong_confirmation": request.method == "POST",
        }
        return TemplateResponse(request, "admin/customers/customer/erase.html", context)

    @admin.action(description=_("Merge the two selected customers…"))
    def merge_selected(self, request, queryset):
        if not request.user.has_perm("customers.merge_customers"):
            messages.error(request, _("You may not merge customers."))
            return None
        ids = sorted(queryset.values_list("pk", flat=True))
        if len(ids) != 2:
            messages.error(request, _("Select exactly two customers to merge."))
            return None
        return HttpResponseRedirect(reverse("admin:customers_customer_merge", args=ids))

    def merge_view(self, request, a, b):
        if not request.user.has_perm("customers.merge_customers"):
            raise PermissionDenied
        pair = {c.pk: c for c in Customer.objects.filter(pk__in=[a, b])}
        if len(pair) != 2:
            raise Http404
        survivor, absorbed = sorted(pair.values(), key=services.profiles.survivor_order)
        if request.method == "POST":
            if request.POST.get("survivor") == str(absorbed.pk):
                survivor, absorbed = absorbed, survivor
            try:
                services.merge_customers(
                    survivor=survivor,
                    absorbed=absorbed,
                    cause=_("merged by hand in the admin"),
                    acting_user=request.user,
                )
            except DomainError as exc:
                messages.error(request, exc.message)
                return HttpResponseRedirect(reverse("admin:customers_customer_changelist"))
            messages.success(request, _("Customers merged."))
            return HttpResponseRedirect(
                reverse("admin:customers_customer_change", args=[survivor.pk])
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Merge two customers"),
            "survivor": survivor,
            "absorbed": absorbed,
            "preview": [(c, services.export_customer(c)) for c in (survivor, absorbed)],
            "both_live": survivor.status == absorbed.status == CustomerStatus.LIVE,
        }
        return TemplateResponse(request, "admin/customers/customer/merge.html", context)


@admin.register(MergeReview)
class MergeReviewAdmin(admin.ModelAdmin):
    list_display = ["created_at", "customer_a", "customer_b", "kind", "value", "reason", "status"]
    list_filter = ["status", "kind"]
    list_select_related = ["customer_a", "customer_b"]
    readonly_fields = [f.name for f in MergeReview._meta.fields]
    actions = ["approve", "reject"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Merge the pairs (approve)"), permissions=["change"])
    def approve(self, request, queryset):
        self._decide(request, queryset, services.approve_review)

    @admin.action(description=_("Keep them apart (reject)"), permissions=["change"])
    def reject(self, request, queryset):
        self._decide(request, queryset, services.reject_review)

    def _decide(self, request, queryset, action):
        done = 0
        for review in queryset.filter(status=ReviewStatus.PENDING).order_by("pk"):
            try:
                action(review=review, acting_user=request.user)
            except DomainError as exc:
                messages.error(request, f"{review}: {exc.message}")
            else:
                done += 1
        messages.success(request, _("%(n)s review(s) decided.") % {"n": done})


@admin.register(Merge)
class MergeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "survivor", "absorbed", "cause", "acting_user"]
    list_select_related = ["survivor", "absorbed", "acting_user"]


@admin.register(Erasure)
class ErasureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "customer", "acting_user", "reason"]
    list_select_related = ["customer", "acting_user"]


@admin.register(BlockedIdentifier)
class BlockedIdentifierAdmin(admin.ModelAdmin):
    list_display = ["kind", "value", "reason", "created_at"]
    list_filter = ["kind"]
    search_fields = ["value"]


@admin.register(PhoneVerification)
class PhoneVerificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Codes sent to prove phones (the code's digest is never shown)."""

    # Five columns fit a 1024 px tablet; the expiry and the time of verification are on the page.
    list_display = ["created", "customer", "phone", "attempts", "verified"]
    list_select_related = ["customer"]
    fields = ["customer", "phone", "created_at", "expires_at", "attempts", "verified_at"]
    readonly_fields = fields
    search_fields = ["phone"]

    @admin.display(description=_("created"), ordering="-created_at")
    def created(self, obj) -> str:
        return formats.date_format(timezone.localtime(obj.created_at), "SHORT_DATETIME_FORMAT")

    @admin.display(description=_("verified"), boolean=True, ordering="verified_at")
    def verified(self, obj) -> bool:
        return obj.verified_at is not None


class SuppressionForm(forms.ModelForm):
    class Meta:
        model = Suppression
        fields = ["kind", "value"]

    def clean(self):
        data = super().clean()
        kind, value = data.get("kind"), data.get("value")
        if kind and value:
            try:
                data["value"] = normalise(kind, value)
            except InvalidIdentifier as exc:
                self.add_error("value", exc.message)
        return data


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """Addresses never messaged again. Staff add one by hand (reason "manual"); bounces and
    complaints arrive through the e-mail webhook. Deleting a row lifts the suppression."""

    form = SuppressionForm
    list_display = ["value", "reason", "time"]  # the kind shows in the value
    list_filter = ["kind", "reason"]
    search_fields = ["=value"]
    readonly_fields = ["reason", "evidence", "created_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        return ["kind", "value"] if obj is None else ["kind", "value", *self.readonly_fields]

    @admin.display(description=_("time"), ordering="-created_at")
    def time(self, obj) -> str:
        return formats.date_format(timezone.localtime(obj.created_at), "SHORT_DATETIME_FORMAT")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().lower()
        return super().get_search_results(request, queryset, term)

    def save_model(self, request, obj, form, change):
        row, _created = services.suppress_address(
            kind=obj.kind,
            value=obj.value,
            reason=SuppressionReason.MANUAL,
            evidence={"staff": request.user.pk},
        )
        for field in ("pk", "value", "reason", "evidence", "created_at"):
            setattr(obj, field, getattr(row, field))
