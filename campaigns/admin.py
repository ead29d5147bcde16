import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from campaigns import selectors, services
from campaigns.exceptions import InvalidSegment
from campaigns.models import Campaign, Segment
from campaigns.segments import MAX_CONDITIONS, MAX_DEPTH, catalogue, validate_rules
from omni.admin_mixins import DomainErrorsAsMessagesMixin
from omni.exceptions import DomainError

MAX_RULES_TEXT = 100_000  # characters of JSON a builder may post


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "starts_at", "ends_at", "created_by", "updated_at"]
    list_filter = ["status"]
    list_select_related = ["created_by"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_by", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


def parse_rules_text(text):
    """The builder's JSON (a bounded string) as Python data, or a form error."""
    if not isinstance(text, str) or len(text) > MAX_RULES_TEXT:
        raise forms.ValidationError(_("The rules are too long."))
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise forms.ValidationError(_("The rules are not valid JSON.")) from None


class RulesField(forms.CharField):
    widget = forms.HiddenInput

    def prepare_value(self, value):
        return value if isinstance(value, str) else json.dumps(value)

    def to_python(self, value):
        return parse_rules_text(value or "")


class SegmentForm(forms.ModelForm):
    rules = RulesField(label=gettext_lazy("rules"))

    class Meta:
        model = Segment
        fields = ["name", "description", "rules"]

    def clean_rules(self):
        rules = self.cleaned_data["rules"]
        try:
            validate_rules(rules, segment_id=self.instance.pk)
        except InvalidSegment as exc:
            raise forms.ValidationError(exc.fields["rules"]) from None
        return rules


def builder_texts() -> dict:
    """The builder's words (translated here: the JS has no catalogue of its own)."""
    return {
        "all": _("Match ALL of these"),
        "any": _("Match ANY of these"),
        "addCondition": _("+ Condition"),
        "addGroup": _("+ Group"),
        "remove": _("Remove"),
        "yes": _("yes"),
        "no": _("no"),
        "empty": _("No conditions: every live customer."),
        "counting": _("Counting…"),
        "failed": _("The count failed; try again."),
        "sample": _("Some of them"),
        "noSample": _("Nobody matches."),
        "commaHint": _("separate with commas"),
        "choose": _("— choose —"),
        "from": _("from"),
        "to": _("to"),
    }


def _audience_downloads(segment) -> list[tuple[str, str]]:
    """(label, URL) of the saved segment's social custom audience files (the API's CSV)."""
    if segment is None or segment.pk is None:
        return []
    url = reverse("api:segment-audience", args=[segment.pk])
    return [(label, f"{url}?layout={layout}") for layout, label in AUDIENCE_LAYOUT_LABELS]


AUDIENCE_LAYOUT_LABELS = [("meta", "Meta"), ("google", "Google")]


@admin.register(Segment)
class SegmentAdmin(DomainErrorsAsMessagesMixin, admin.ModelAdmin):
    """The segment builder: conditions and groups without code, a live count and a sample."""

    form = SegmentForm
    list_display = ["name", "description", "updated_by", "updated_at"]
    list_select_related = ["updated_by"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_by", "created_at", "updated_by", "updated_at"]
    fields = ["name", "description", "rules"]
    change_form_template = "admin/campaigns/segment/change_form.html"

    def get_fields(self, request, obj=None):
        return [*self.fields, *(self.readonly_fields if obj else [])]

    def save_form(self, request, form, change):
        """Saved here, through the service (which validates again and records who)."""
        data = form.cleaned_data
        return services.save_segment(
            segment=form.instance if change else None,
            name=data["name"],
            description=data.get("description", ""),
            rules=data["rules"],
            acting_user=request.user,
        )

    def save_model(self, request, obj, form, change):
        """Nothing left to do: ``save_form`` saved the segment."""

    def save_related(self, request, form, formsets, change):
        """A segment has no related rows to save."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one at a time, through the service
        return actions

    def delete_model(self, request, obj):
        services.delete_segment(segment=obj, acting_user=request.user)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:  # rolled back; say why on the segment's page
            messages.error(request, exc.message)
            url = reverse("admin:campaigns_segment_change", args=[object_id])
            return HttpResponseRedirect(url)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(
            {
                "segment_catalogue": catalogue(),
                "segment_texts": builder_texts(),
                "segment_limits": {"depth": MAX_DEPTH, "conditions": MAX_CONDITIONS},
                "segment_preview_url": reverse("admin:campaigns_segment_preview"),
                "audience_downloads": _audience_downloads(obj),
            }
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        preview = self.admin_site.admin_view(require_POST(self.preview_view))
        return [
            path("preview/", preview, name="campaigns_segment_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request):
        """Count and sample the unsaved tree the builder posts ({"rules": …}) as JSON."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        try:
            body = parse_rules_text(request.body.decode("utf-8", errors="replace"))
            rules = body.get("rules") if isinstance(body, dict) else None
            count = selectors.count_segment(rules)
        except forms.ValidationError as exc:
            return JsonResponse({"errors": exc.messages}, status=400)
        except InvalidSegment as exc:
            return JsonResponse({"errors": exc.fields["rules"]}, status=400)
        link = request.user.has_perm("customers.view_customer")
        sample = [
            {
                "id": customer.pk,
                "name": str(customer),
                "url": reverse("admin:customers_customer_change", args=[customer.pk])
                if link
                else "",
            }
            for customer in selectors.sample_segment(rules)
        ]
        return JsonResponse({"count": count, "sample": sample})


from campaigns import admin_campaigns, admin_journeys  # noqa: E402, F401
