"""Serializer fields shared by the apps' APIs."""

from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from omni.text import is_storable, shorten


class SlugRelatedField(serializers.SlugRelatedField):
    """An object by a text key (SKU, code, slug).

    Refuses what cannot be a key before querying (another type than text or a number, NUL or a
    lone surrogate, longer than the column) and echoes at most a short prefix of the value.
    """

    default_error_messages = {
        "unstorable": _("Null characters and lone surrogates are not allowed."),
    }

    def clean_slug(self, data) -> str:
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        slug = str(data)
        if not is_storable(slug):
            self.fail("unstorable")
        max_length = self._max_length()
        if max_length is not None and len(slug) > max_length:
            self.not_found(slug)
        return slug

    def _max_length(self) -> int | None:
        model = (self.queryset if self.queryset is not None else self.get_queryset()).model
        try:
            return model._meta.get_field(self.slug_field).max_length
        except FieldDoesNotExist:  # a slug across a relation ("product__slug")
            return None

    def not_found(self, slug: str):
        self.fail("does_not_exist", slug_name=self.slug_field, value=shorten(slug))

    def to_internal_value(self, data):
        slug = self.clean_slug(data)
        try:
            return self.get_queryset().get(**{self.slug_field: slug})
        except ObjectDoesNotExist:
            self.not_found(slug)
        except (TypeError, ValueError):
            self.fail("invalid")
