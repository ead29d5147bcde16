"""Journeys in the admin: each built-in journey switched on or off, its steps and timings edited
inline, and each step's figures (waiting, sent, held back, opened, converted) on its page. Its
messages, coupon and holdout are its campaign's (one link away)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from campaigns import selectors
from campaigns.models import Journey, JourneyStep
from campaigns.services import builtin_journeys


class JourneyStepInline(admin.StackedInline):
    """One step per block, its fields on three short rows: every field fits a tablet's width."""

    model = JourneyStep
    extra = 0
    fields = [
        ("position", "kind", "channel"),
        ("wait_minutes", "wait_until_time"),
        ("event", "condition", "goto"),
    ]


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "waiting", "completed", "exited", "campaign_link"]
    list_display_links = ["name"]
    fields = ["name", "kind", "enabled", "campaign_link", "step_figures"]
    readonly_fields = ["kind", "campaign_link", "step_figures"]
    inlines = [JourneyStepInline]
    change_list_template = "admin/campaigns/journey/change_list.html"

    def get_queryset(self, request):
        return selectors.journeys_with_counts()

    def has_add_permission(self, request):
        return False  # built in: "Add the built-in journeys" makes them

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("waiting"), ordering="waiting")
    def waiting(self, obj):
        return getattr(obj, "waiting", "—")

    @admin.display(description=gettext_lazy("completed"))
    def completed(self, obj):
        return getattr(obj, "completed", "—")

    @admin.display(description=gettext_lazy("exited"))
    def exited(self, obj):
        return getattr(obj, "exited", "—")

    @admin.display(description=gettext_lazy("messages, coupon and holdout"))
    def campaign_link(self, obj):
        url = reverse("admin:campaigns_campaign_change", args=[obj.campaign_id])
        return format_html('<a href="{}">{}</a>', url, obj.campaign.name)

    @admin.display(description=gettext_lazy("steps"))
    def step_figures(self, obj):
        rows = selectors.journey_steps(obj)
        head = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("Step"),
            _("Waiting"),
            _("Sent"),
            _("Held back"),
            _("Opened"),
            _("Converted"),
        )
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (str(r["step"]), r["waiting"], r["sent"], r["held"], r["opened"], r["converted"])
                for r in rows
            ),
        )
        return format_html('<table class="journey-steps">{}{}</table>', head, body)

    def save_model(self, request, obj, form, change):
        switched = "enabled" in form.changed_data
        wanted = obj.enabled
        if switched:
            obj.enabled = not wanted  # the switch is the service's
        super().save_model(request, obj, form, change)
        if switched:
            builtin_journeys.switch(journey=obj, on=wanted, acting_user=request.user)

    def get_urls(self):
        install = self.admin_site.admin_view(require_POST(self.install_view))
        return [
            path("install/", install, name="campaigns_journey_install"),
            *super().get_urls(),
        ]

    def install_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        made = builtin_journeys.install_builtin(acting_user=request.user)
        messages.success(
            request, _("Built-in journeys ready (%(n)s new), switched off.") % {"n": made}
        )
        return HttpResponseRedirect(reverse("admin:campaigns_journey_changelist"))
