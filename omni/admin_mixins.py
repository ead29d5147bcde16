"""Admin helpers shared by the apps."""

from django.contrib import messages
from django.http import HttpResponseRedirect

from omni.exceptions import DomainError


class ReadOnlyAdminMixin:
    """For records nobody edits by hand (ledgers, audits): view only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DomainErrorsAsMessagesMixin:
    """A domain error raised while saving rolls the change back and shows as an error message."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(request.get_full_path())


def run_on_each(request, rows, action, *, label=str) -> int:
    """Run ``action(row)`` on each row (an admin action over a selection); a domain error becomes
    an error message naming the row and the others go on. Returns how many succeeded."""
    done = 0
    for row in rows:
        try:
            action(row)
        except DomainError as exc:
            messages.error(request, f"{label(row)}: {exc.message}")
        else:
            done += 1
    return done
