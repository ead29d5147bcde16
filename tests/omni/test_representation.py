"""omni.api.representation: one bound serializer per class, the same output as a new one."""

from decimal import Decimal
from types import SimpleNamespace

from django.utils import translation
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from omni.api.representation import _prototype, represent


class _Line(serializers.Serializer):
    sku = serializers.CharField()
    total = serializers.DecimalField(max_digits=8, decimal_places=2)


class _Body(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField(source="status_label")
    lines = _Line(many=True)


def _order(n):
    return SimpleNamespace(
        number=f"N-{n}",
        status_label=gettext_lazy("Cancelled"),
        lines=[SimpleNamespace(sku=f"S{i}", total=Decimal(i) / 4) for i in range(n)],
    )


def test_represent_gives_what_a_new_serializer_gives_for_each_instance_and_language():
    for n, language in ((1, "en"), (3, "es"), (0, "en")):
        with translation.override(language):
            assert represent(_Body, _order(n)) == _Body(_order(n)).data
    with translation.override("es"):
        assert represent(_Body, _order(1))["status"] == "Cancelado"


def test_represent_builds_the_fields_once_per_class(monkeypatch):
    represent(_Body, _order(1))
    built = []
    monkeypatch.setattr(_Body, "get_fields", lambda self: built.append(self) or {})
    represent(_Body, _order(2))
    assert built == []
    assert _prototype(_Body) is _prototype(_Body)
