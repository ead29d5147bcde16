"""The campaign editor for marketers (a 1024×768 tablet is enough): the campaign's settings,
its variants with their per-channel content (template errors shown on the field, with the
line), the lifecycle buttons (only the legal ones; each calls a lifecycle service), an uploaded
audience (a CSV of identifiers), a preview for a chosen customer, a test send to oneself, a live
progress panel and a results page.

Registered in place of the plain ``CampaignAdmin`` of ``campaigns.admin``."""

from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from campaigns import locks, reports, services
from campaigns.content import (
    PARTS,
    SAMPLE_CONTEXT,
    VARIABLES,
    render_message,
    validate_message,
)
from campaigns.exceptions import AudienceLocked, InvalidAudienceFile, InvalidTransition
from campaigns.models import (
    MAX_RATE,
    Campaign,
    CampaignChannel,
    CampaignStatus,
    CampaignVariant,
    DeliveryReason,
    DeliveryStatus,
    WinnerMetric,
)
from campaigns.services.audience_upload import EDITABLE as AUDIENCE_EDITABLE
from campaigns.services.audience_upload import REASONS as AUDIENCE_REASONS
from campaigns.services.lifecycle import MESSAGE_CHANNELS, ab_needs_variants_message
from customers import selectors as customer_selectors
from omni import messaging
from omni.admin_mixins import DomainErrorsAsMessagesMixin
from omni.exceptions import DomainError

S = CampaignStatus
# Lifecycle buttons: name → (label, the statuses that show it).
BUTTONS = {
    "schedule": (gettext_lazy("Schedule"), (S.DRAFT,)),
    "send_now": (gettext_lazy("Send now"), (S.DRAFT, S.SCHEDULED)),
    "unschedule": (gettext_lazy("Back to draft"), (S.SCHEDULED,)),
    "pause": (gettext_lazy("Pause"), (S.SENDING,)),
    "resume": (gettext_lazy("Resume"), (S.PAUSED,)),
    "cancel": (gettext_lazy("Cancel campaign"), (S.DRAFT, S.SCHEDULED, S.SENDING, S.PAUSED)),
}
PART_LABELS = {
    ("email", "subject"): gettext_lazy("E-mail subject"),
    ("email", "html"): gettext_lazy("E-mail HTML"),
    ("email", "text"): gettext_lazy("E-mail plain text (optional: made from the HTML)"),
    ("sms", "body"): gettext_lazy("SMS text"),
    ("push", "title"): gettext_lazy("Push title"),
    ("push", "body"): gettext_lazy("Push text"),
    ("store", "body"): gettext_lazy("In-store task for the staff"),
}
WINNER_LABELS = {
    WinnerMetric.OPENS: gettext_lazy("Winner, chosen %(time)s by opens"),
    WinnerMetric.CLICKS: gettext_lazy("Winner, chosen %(time)s by clicks"),
    WinnerMetric.CONVERSIONS: gettext_lazy("Winner, chosen %(time)s by conversions"),
}
TEXTAREA_ROWS = {"html": 8, "text": 4, "body": 3}
AUDIENCE_FIELDSET = gettext_lazy("Audience")  # the uploaded list is shown under it
MAX_SEARCH = 100
SEARCH_RESULTS = 10


def content_field_name(channel: str, part: str) -> str:
    return f"{channel}_{part}"


def legal_buttons(status: str) -> list[tuple[str, str]]:
    return [(name, label) for name, (label, statuses) in BUTTONS.items() if status in statuses]


# --- Forms ------------------------------------------------------------------------------------


class ChannelsField(forms.MultipleChoiceField):
    """Channels as checkboxes listed in priority order (the page lets the marketer move them);
    the ticked ones are kept in the order they are posted."""

    widget = forms.CheckboxSelectMultiple

    def validate(self, value):
        super().validate(value)
        if len(set(value)) != len(value):
            raise ValidationError(_("Each channel may appear once."), code="duplicate")


RATE_CHANNELS = tuple(MESSAGE_CHANNELS)


class SendRatesWidget(forms.MultiWidget):
    """One number box per channel that carries a message, labelled with the channel (its
    template lives in the app: the form renderer reads app templates only)."""

    template_name = "campaigns/widgets/send_rates.html"

    def __init__(self, attrs=None):
        boxes = {"min": 1, "max": MAX_RATE, "step": 1, "class": "vIntegerField"}
        super().__init__({c: forms.NumberInput({**boxes, **(attrs or {})}) for c in RATE_CHANNELS})

    def decompress(self, value):
        rates = value if isinstance(value, dict) else {}
        return [rates.get(channel) for channel in RATE_CHANNELS]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        labels = dict(CampaignChannel.choices)
        for channel, widget in zip(RATE_CHANNELS, context["widget"]["subwidgets"], strict=True):
            widget["label"] = labels[channel]
        return context


class SendRatesField(forms.MultiValueField):
    """``{channel: messages per minute}`` from the boxes; an empty box is no limit."""

    widget = SendRatesWidget

    def __init__(self, **kwargs):
        boxes = [
            forms.IntegerField(min_value=1, max_value=MAX_RATE, required=False)
            for _channel in RATE_CHANNELS
        ]
        super().__init__(boxes, require_all_fields=False, required=False, **kwargs)

    def compress(self, data_list):
        values = data_list or [None] * len(RATE_CHANNELS)
        return {c: v for c, v in zip(RATE_CHANNELS, values, strict=True) if v is not None}


class CampaignForm(forms.ModelForm):
    channels = ChannelsField(
        label=gettext_lazy("Channels, in order of priority"),
        required=False,
        help_text=gettext_lazy("Tick the channels; move them up to try them first."),
    )
    send_rates = SendRatesField(
        label=gettext_lazy("Sending rate (messages per minute)"),
        help_text=gettext_lazy("Per channel; leave a box empty for no limit."),
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "goal",
            "description",
            "segment",
            "holdout_percent",
            "channels",
            "allow_preferred_channel",
            "send_rates",
            "send_at",
            "recurrence",
            "priority",
            "starts_at",
            "ends_at",
            "promotion",
            "ab_winner_metric",
            "ab_test_percent",
            "ab_test_hours",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "channels" not in self.fields:
            return
        chosen = list(self.instance.channels or []) if self.instance.pk else []
        labels = dict(CampaignChannel.choices)
        order = chosen + [c for c in CampaignChannel.values if c not in chosen]
        self.fields["channels"].choices = [(c, labels[c]) for c in order]
        if not self.instance.pk:
            self.initial.setdefault("channels", list(self.instance.channels or []))


class AudienceUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy("Uploading replaces the campaign's current list."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )


def _content_fields() -> dict:
    """One text box per channel part (``email_subject``, ``sms_body``…)."""
    fields = {}
    for channel, parts in PARTS.items():
        for part in parts:
            rows = TEXTAREA_ROWS.get(part)
            fields[content_field_name(channel, part)] = forms.CharField(
                label=PART_LABELS[(channel, part)],
                required=False,
                strip=False,
                max_length=100_000,
                widget=forms.Textarea(attrs={"rows": rows}) if rows else forms.TextInput(),
            )
    return fields


class BaseVariantForm(forms.ModelForm):
    """A variant's content as one text box per channel part; ``content`` is built from them
    and checked in the sandbox, each error on its own box with the template line."""

    class Meta:
        model = CampaignVariant
        fields = ["name", "split_percent"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        content = self.instance.content if isinstance(self.instance.content, dict) else {}
        for channel, parts in PARTS.items():
            for part in parts:
                value = (content.get(channel) or {}).get(part, "")
                self.initial.setdefault(content_field_name(channel, part), value)

    def clean(self):
        cleaned = super().clean()
        content = {}
        for channel, parts in PARTS.items():
            templates = {p: cleaned.get(content_field_name(channel, p)) or "" for p in parts}
            if not any(templates.values()):
                continue
            templates = {p: source for p, source in templates.items() if source}
            self._check(channel, templates)
            content[channel] = templates
        # Refused content is reported on its boxes, not checked again by the model.
        self.instance.content = {} if self.errors else content
        return cleaned

    def _check(self, channel: str, templates: dict) -> None:
        try:
            validate_message(channel, templates)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for part, errors in exc.message_dict.items():
                    self.add_error(content_field_name(channel, part), errors)
            else:
                main = "html" if channel == "email" else PARTS[channel][-1]
                self.add_error(content_field_name(channel, main), exc.messages)


VariantForm = type(BaseVariantForm)("VariantForm", (BaseVariantForm,), _content_fields())


class VariantFormSet(forms.BaseInlineFormSet):
    """An A/B test with a winner needs two variants to compare (the campaign's posted fields
    are on ``self.instance`` when the admin checks the variants)."""

    def clean(self):
        super().clean()
        if not getattr(self.instance, "ab_winner_metric", ""):
            return
        kept = [
            form
            for form in self.forms
            if form.has_changed() or form.instance.pk
            if not (self.can_delete and self._should_delete_form(form))
        ]
        if len(kept) < 2:
            raise ValidationError(ab_needs_variants_message(), code="ab_variants")


class VariantInline(admin.StackedInline):
    model = CampaignVariant
    form = VariantForm
    formset = VariantFormSet
    extra = 0
    min_num = 1
    fields = ["name", "split_percent"]

    def get_fieldsets(self, request, obj=None):
        if not self._editable(obj):
            return [(None, {"fields": ["name", "split_percent", "content"]})]
        sets = [(None, {"fields": ["name", "split_percent"]})]
        for channel, parts in PARTS.items():
            names = [content_field_name(channel, part) for part in parts]
            sets.append((CampaignChannel(channel).label, {"fields": names}))
        return sets

    # A variant is part of its campaign: whoever may edit the campaign edits its variants
    # (the Marketer role holds the campaign's permissions, not the variant's).
    def _editable(self, obj):
        return obj is None or obj.status == S.DRAFT

    def _may_edit(self, request, obj):
        perm = "change_campaign" if obj is not None else "add_campaign"
        return self._editable(obj) and request.user.has_perm(f"campaigns.{perm}")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("campaigns.view_campaign") or self._may_edit(request, obj)

    def has_add_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may_edit(request, obj)


# --- The campaign admin -----------------------------------------------------------------------


class CampaignAdmin(DomainErrorsAsMessagesMixin, admin.ModelAdmin):
    form = CampaignForm
    inlines = [VariantInline]
    list_display = ["name", "status", "segment", "channel_list", "send_at", "updated_at"]
    list_filter = ["status", "priority"]
    list_select_related = ["segment"]
    search_fields = ["name", "goal", "description"]
    change_form_template = "admin/campaigns/campaign/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "goal", "description"]}),
        (AUDIENCE_FIELDSET, {"fields": ["segment", "holdout_percent"]}),
        (
            gettext_lazy("Channels"),
            {"fields": ["channels", "allow_preferred_channel", "send_rates"]},
        ),
        (
            gettext_lazy("Schedule"),
            {"fields": ["send_at", "recurrence", "priority", "starts_at", "ends_at"]},
        ),
        (gettext_lazy("Offer"), {"fields": ["promotion"]}),
        (
            gettext_lazy("A/B test"),
            {
                "fields": ["ab_winner_metric", "ab_test_percent", "ab_test_hours"],
                "description": gettext_lazy(
                    "With two or more variants: a test group gets them by their shares, and "
                    "after the test hours the variant that did best goes to everyone else."
                ),
            },
        ),
    ]
    readonly_after_draft = ["status", "created_by", "started_at", "finished_at"]

    @admin.display(description=gettext_lazy("channels"))
    def channel_list(self, obj):
        labels = dict(CampaignChannel.choices)
        return " → ".join(str(labels.get(c, c)) for c in obj.channels or [])

    def get_fieldsets(self, request, obj=None):
        sets = list(self.fieldsets)
        if obj is not None:
            sets.insert(1, (gettext_lazy("Status"), {"fields": self.readonly_after_draft}))
        return sets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status != S.DRAFT:  # changed only through the lifecycle once it left draft
            return [f for _name, opts in self.get_fieldsets(request, obj) for f in opts["fields"]]
        return list(self.readonly_after_draft)

    def save_model(self, request, obj, form, change):
        """A new campaign is a draft; a change saves the form's fields only, and only while
        the campaign (locked) is still a draft: the status is the lifecycle's, never the
        form's."""
        if not change:
            obj.created_by = request.user
            obj.status = S.DRAFT
            obj.save()
            return
        if locks.campaign_for_update(obj.pk).status != S.DRAFT:
            raise InvalidTransition(
                _("The campaign left the draft status while you were editing it: nothing saved.")
            )
        obj.save(update_fields=[*form.Meta.fields, "updated_at"])

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a campaign is cancelled, not deleted in bulk
        return actions

    def has_delete_permission(self, request, obj=None):
        """Only a draft may be deleted: once scheduled its deliveries are the contact budget's
        history (cancel it instead)."""
        if obj is not None and obj.status != S.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is None or obj.status == S.DRAFT:
            context["content_variables"] = content_variables()
            context["content_variables_hint"] = _(
                "A list is used inside {% for product in products %}…{% endfor %}. Any other "
                "variable is refused when you save, with its line."
            )
        context["move_up_label"] = _("Move up")
        if obj is not None:
            context.update(self._panel_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _panel_context(self, request, obj) -> dict:
        can_change = self.has_change_permission(request, obj)
        progress = reports.progress(obj)
        return {
            "lifecycle_buttons": legal_buttons(obj.status) if can_change else [],
            "campaign_progress": progress,
            "progress_rows": [
                (status, label, progress["counts"][status])
                for status, label in DeliveryStatus.choices
            ],
            "reason_labels": {r: str(label) for r, label in DeliveryReason.choices},
            "progress_url": reverse("admin:campaigns_campaign_progress", args=[obj.pk]),
            "preview_url": reverse("admin:campaigns_campaign_preview", args=[obj.pk]),
            "results_url": reverse("admin:campaigns_campaign_results", args=[obj.pk]),
            "progress_texts": progress_texts(),
            "audience": audience_context(obj, can_change),
            "audience_fieldset": AUDIENCE_FIELDSET,
        }

    def get_urls(self):
        def view(func, post=False):
            wrapped = require_POST(func) if post else func
            return self.admin_site.admin_view(wrapped)

        return [
            path(
                "<int:pk>/lifecycle/<str:action>/",
                view(self.lifecycle_view, post=True),
                name="campaigns_campaign_lifecycle",
            ),
            path("<int:pk>/preview/", view(self.preview_view), name="campaigns_campaign_preview"),
            path(
                "<int:pk>/test-send/",
                view(self.test_send_view, post=True),
                name="campaigns_campaign_test_send",
            ),
            path(
                "<int:pk>/progress/", view(self.progress_view), name="campaigns_campaign_progress"
            ),
            path("<int:pk>/results/", view(self.results_view), name="campaigns_campaign_results"),
            path(
                "<int:pk>/audience/", view(self.audience_view), name="campaigns_campaign_audience"
            ),
            path(
                "<int:pk>/audience/remove/",
                view(self.audience_remove_view, post=True),
                name="campaigns_campaign_audience_remove",
            ),
            *super().get_urls(),
        ]

    def _campaign(self, request, pk: int, *, change: bool = False) -> Campaign:
        campaign = Campaign.objects.select_related("segment", "promotion").filter(pk=pk).first()
        if campaign is None:
            raise Http404
        allowed = (
            self.has_change_permission(request, campaign)
            if change
            else self.has_view_or_change_permission(request, campaign)
        )
        if not allowed:
            raise PermissionDenied
        return campaign

    def _change_url(self, campaign) -> str:
        return reverse("admin:campaigns_campaign_change", args=[campaign.pk])

    # --- Lifecycle ----------------------------------------------------------------------------

    def lifecycle_view(self, request, pk: int, action: str):
        campaign = self._campaign(request, pk, change=True)
        if action not in BUTTONS:
            raise Http404
        if campaign.status not in BUTTONS[action][1]:
            messages.error(
                request,
                _("A campaign that is %(status)s cannot do this: %(action)s.")
                % {"status": campaign.get_status_display(), "action": BUTTONS[action][0]},
            )
            return HttpResponseRedirect(self._change_url(campaign))
        try:
            campaign = run_lifecycle(action, campaign, request.user)
        except DomainError as exc:
            for message in error_lines(exc):
                messages.error(request, message)
        else:
            messages.success(
                request,
                _("The campaign is now %(status)s.") % {"status": campaign.get_status_display()},
            )
        return HttpResponseRedirect(self._change_url(campaign))

    # --- Progress and results ----------------------------------------------------------------

    def progress_view(self, request, pk: int):
        campaign = self._campaign(request, pk)
        response = JsonResponse(reports.progress(campaign))
        response["Cache-Control"] = "no-store"
        return response

    def results_view(self, request, pk: int):
        campaign = self._campaign(request, pk)
        series = reports.hourly_series(campaign)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": campaign,
            "title": _("Results: %(name)s") % {"name": campaign.name},
            "series": series,
            "chart": chart(series),
            "groups": reports.groups(campaign),
            "ab": ab_context(campaign),
            "sales": reports.sales(campaign),
            "uplift": uplift_context(reports.uplift(campaign)),
            "progress": reports.progress(campaign),
            "change_url": self._change_url(campaign),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/results.html", context)

    # --- Uploaded audience ---------------------------------------------------------------------

    def audience_view(self, request, pk: int):
        """The upload page: the accepted layouts, a file field and the last upload's summary
        (with its invalid lines). A file that cannot be read is an error on the field."""
        campaign = self._campaign(request, pk, change=request.method == "POST")
        form = AudienceUploadForm()
        if request.method == "POST":
            form = AudienceUploadForm(request.POST, request.FILES)
            done = self._upload(request, campaign, form) if form.is_valid() else None
            if done is not None:
                return done
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": campaign,
            "title": _("Audience list: %(name)s") % {"name": campaign.name},
            "form": form,
            "audience": audience_context(campaign, self.has_change_permission(request, campaign)),
            "change_url": self._change_url(campaign),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/audience.html", context)

    def _upload(self, request, campaign: Campaign, form) -> HttpResponseRedirect | None:
        """Call the upload service; a redirect when done or refused, None (the page again,
        with the error on the field) for a file that cannot be read."""
        upload = form.cleaned_data["file"]
        try:
            services.upload_audience(
                campaign=campaign, file=upload, file_name=upload.name, acting_user=request.user
            )
        except InvalidAudienceFile as exc:
            form.add_error("file", exc.message)
            return None
        except AudienceLocked as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self._change_url(campaign))
        messages.success(request, _("The audience list was uploaded."))
        return HttpResponseRedirect(request.path)

    def audience_remove_view(self, request, pk: int):
        campaign = self._campaign(request, pk, change=True)
        try:
            services.clear_audience(campaign=campaign, acting_user=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The uploaded audience was removed."))
        return HttpResponseRedirect(self._change_url(campaign))

    # --- Preview and test send ---------------------------------------------------------------

    def preview_view(self, request, pk: int):
        campaign = self._campaign(request, pk)
        choice = preview_choice(request.GET, campaign)
        term = request.GET.get("q", "")[:MAX_SEARCH].replace("\x00", "")
        matches = list(customer_selectors.search_customers(term)[:SEARCH_RESULTS]) if term else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": campaign,
            "title": _("Preview: %(name)s") % {"name": campaign.name},
            "term": term,
            "matches": matches,
            "change_url": self._change_url(campaign),
            "can_test_send": self.has_change_permission(request, campaign),
            "test_send_url": reverse("admin:campaigns_campaign_test_send", args=[campaign.pk]),
            **choice,
            **rendered_preview(campaign, choice),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/preview.html", context)

    def test_send_view(self, request, pk: int):
        """The e-mail as the chosen customer would get it, to the marketer's own address
        (with the sample unsubscribe link: the customer's would unsubscribe them)."""
        campaign = self._campaign(request, pk, change=True)
        choice = preview_choice(request.POST, campaign, channel="email")
        back = reverse("admin:campaigns_campaign_preview", args=[campaign.pk])
        back += "?" + preview_query(choice)
        if not request.user.email:
            messages.error(request, _("Your account has no e-mail address."))
            return HttpResponseRedirect(back)
        result = rendered_preview(campaign, choice, test=True)
        message = result.get("message")
        if message is None:
            messages.error(request, result.get("error") or _("There is nothing to send."))
            return HttpResponseRedirect(back)
        to = request.user.email
        transaction.on_commit(lambda: send_test(campaign, message, to))
        messages.success(request, _("A test e-mail is on its way to %(email)s.") % {"email": to})
        return HttpResponseRedirect(back)


admin.site.unregister(Campaign)
admin.site.register(Campaign, CampaignAdmin)


# --- Helpers ----------------------------------------------------------------------------------


def run_lifecycle(action: str, campaign: Campaign, user) -> Campaign:
    """Call the lifecycle service behind a button; "send now" from draft schedules and starts
    in one transaction (a campaign that is not ready stays a draft)."""
    if action == "schedule":
        send_at = (
            campaign.send_at if campaign.send_at and campaign.send_at > timezone.now() else None
        )
        return services.schedule_campaign(campaign=campaign, acting_user=user, send_at=send_at)
    if action == "send_now":
        with transaction.atomic():
            if campaign.status == S.DRAFT:
                campaign = services.schedule_campaign(campaign=campaign, acting_user=user)
            return services.start_campaign(campaign=campaign, acting_user=user)
    service = {
        "unschedule": services.unschedule_campaign,
        "pause": services.pause_campaign,
        "resume": services.resume_campaign,
        "cancel": services.cancel_campaign,
    }[action]
    return service(campaign=campaign, acting_user=user)


def audience_context(campaign: Campaign, can_change: bool) -> dict:
    """The campaign's uploaded list for its pages: the summary of the last upload, its
    invalid lines with their reason, and whether the marketer may upload now."""
    stats = campaign.audience_stats if campaign.audience_uploaded_at else {}
    return {
        "file_name": campaign.audience_file_name,
        "uploaded_at": campaign.audience_uploaded_at,
        "stats": stats,
        "invalid_lines": [
            (row.get("line"), AUDIENCE_REASONS.get(row.get("reason"), row.get("reason")))
            for row in stats.get("invalid_lines", [])
        ],
        "editable": can_change and campaign.status in AUDIENCE_EDITABLE,
        "upload_url": reverse("admin:campaigns_campaign_audience", args=[campaign.pk]),
        "remove_url": reverse("admin:campaigns_campaign_audience_remove", args=[campaign.pk]),
    }


def error_lines(exc: DomainError) -> list[str]:
    fields = getattr(exc, "fields", None) or {}
    lines = [str(m) for messages_ in fields.values() for m in messages_]
    return lines or [str(exc.message)]


def _int(value) -> int | None:
    text = str(value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def preview_choice(data, campaign: Campaign, channel: str | None = None) -> dict:
    """The customer, variant and channel a preview asks for (unknown ones fall back)."""
    channels = [c for c in campaign.channels or [] if c in MESSAGE_CHANNELS] or ["email"]
    if channel is None:  # asked for by the page; a test send names its channel
        channel = data.get("channel")
        channel = channel if channel in channels else channels[0]
    variants = list(campaign.variants.order_by("pk"))
    variant_id = _int(data.get("variant"))
    variant = next((v for v in variants if v.pk == variant_id), variants[0] if variants else None)
    customer_id = _int(data.get("customer"))
    customer = customer_selectors.profile_after_merges(customer_id) if customer_id else None
    if customer is not None and not customer.is_live:
        customer = None
    return {
        "channel": channel,
        "channels": [(c, CampaignChannel(c).label) for c in channels],
        "variant": variant,
        "variants": variants,
        "customer": customer,
    }


def preview_query(choice: dict) -> str:
    params = {"channel": choice["channel"]}
    if choice["variant"] is not None:
        params["variant"] = choice["variant"].pk
    if choice["customer"] is not None:
        params["customer"] = choice["customer"].pk
    return urlencode(params)


def rendered_preview(campaign: Campaign, choice: dict, *, test: bool = False) -> dict:
    """{"rendered": RenderedMessage, "message": messaging.Message} or {"error": text}."""
    variant, channel = choice["variant"], choice["channel"]
    templates = (variant.content if variant else {}).get(channel)
    if not templates:
        return {"error": _("This variant has no content for this channel.")}
    context = reports.preview_context(campaign, choice["customer"], channel)
    if test:
        context["unsubscribe_url"] = SAMPLE_CONTEXT["unsubscribe_url"]
    try:
        rendered = render_message(channel, templates, context)
    except ValidationError as exc:  # ContentError included
        return {"error": "; ".join(exc.messages)}
    message = messaging.Message(
        channel="email",
        to="",
        subject=_("[Test] %(subject)s") % {"subject": rendered.subject},
        body=rendered.body,
        html=rendered.html,
        metadata={"campaign_id": campaign.pk, "test": True},
    )
    return {"rendered": rendered, "message": message if channel == "email" else None}


def send_test(campaign: Campaign, message: messaging.Message, to: str) -> None:
    messaging.send(
        channel="email",
        to=to,
        subject=message.subject,
        body=message.body,
        html=message.html,
        metadata=dict(message.metadata),
    )


def content_variables() -> list[tuple[str, str]]:
    """``{{ path }}`` and what it holds, for each variable of ``campaigns.content``."""
    names = []
    for name, description in VARIABLES.items():
        if "[]" in name:  # an item of a list: product.name inside the loop
            name = name.split("[].", 1)[1]
            name = f"product.{name}"
        names.append(("{{ " + name + " }}", str(description)))
    return names


def ab_context(campaign: Campaign) -> dict:
    """The variants' results for the results page (shown with two variants or more)."""
    results = reports.variant_results(campaign)
    if len(results["variants"]) < 2:
        return {}
    winner = next((row for row in results["variants"] if row["winner"]), None)
    label = WINNER_LABELS.get(campaign.ab_winner_metric)
    chosen = campaign.winner_chosen_at
    if winner is not None and label and chosen:
        when = formats.date_format(timezone.localtime(chosen), "DATETIME_FORMAT")
        winner = {**winner, "label": label % {"time": when}}
    return {**results, "winner": winner, "metric": campaign.ab_winner_metric}


def progress_texts() -> dict:
    return {
        "of": _("%(done)s of %(total)s handled"),
        "failed": _("The progress could not be refreshed."),
    }


CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 880, 260, 36


def chart(series: reports.Series) -> dict:
    """Polylines of sends, opens and clicks per hour, scaled into an SVG box."""
    if not series.hours:
        return {}
    peak = max([*series.sends, *series.opens, *series.clicks, 1])
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
    step = inner_w / max(series.hours - 1, 1)

    def points(values):
        return " ".join(
            f"{CHART_PAD + i * step:.1f},{CHART_PAD + inner_h - v * inner_h / peak:.1f}"
            for i, v in enumerate(values)
        )

    ticks = sorted({0, series.hours // 2, series.hours - 1})
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "pad": CHART_PAD,
        "bottom": CHART_PAD + inner_h,
        "right": CHART_PAD + inner_w,
        "peak": peak,
        "sends": points(series.sends),
        "opens": points(series.opens),
        "clicks": points(series.clicks),
        "total_sends": sum(series.sends),
        "total_opens": sum(series.opens),
        "total_clicks": sum(series.clicks),
        "ticks": [
            {
                "x": f"{CHART_PAD + t * step:.1f}",  # SVG wants a dot, whatever the locale
                "label": series.start + timedelta(hours=t),
                "anchor": "start" if t == 0 else "end" if t == series.hours - 1 else "middle",
            }
            for t in ticks
        ],
    }


UPLIFT_WIDTH, UPLIFT_PAD = 420, 20


def _pct(value: float | None) -> float | None:
    """A share as a percentage (the template formats it in the reader's locale)."""
    return None if value is None else 100 * value


def uplift_context(result) -> dict:
    """The uplift for the results page: the rates, the differences with their 95 % intervals
    (in percentage points and euros per customer, numbers the template formats in the reader's
    locale), and an interval bar against zero in SVG coordinates (strings written with a dot
    whatever the locale)."""
    conversion = result.conversion
    if conversion is None:
        return {"empty": True, "treated": result.treated, "holdout": result.holdout}
    low, high = min(conversion.low, 0.0), max(conversion.high, 0.0)
    span = (high - low) or 1.0
    inner = UPLIFT_WIDTH - 2 * UPLIFT_PAD

    def x(value: float) -> str:
        return f"{UPLIFT_PAD + (value - low) / span * inner:.1f}"

    revenue = result.revenue_per_customer
    return {
        "treated": result.treated,
        "holdout": result.holdout,
        "rate_treated": _pct(result.rate_treated),
        "rate_holdout": _pct(result.rate_holdout),
        "difference": _pct(conversion.estimate),
        "low": _pct(conversion.low),
        "high": _pct(conversion.high),
        "significant": conversion.significant,
        "better": conversion.estimate > 0,
        "revenue": None
        if revenue is None
        else {k: getattr(revenue, k) for k in ("estimate", "low", "high")},
        "incremental_revenue": result.incremental_revenue,
        "bar": {
            "width": UPLIFT_WIDTH,
            "zero": x(0.0),
            "low": x(conversion.low),
            "high": x(conversion.high),
            "estimate": x(conversion.estimate),
        },
    }
