"""Input and output shapes of the segments API."""

from rest_framework import serializers

from campaigns.models import Segment


class SegmentSerializer(serializers.ModelSerializer):
    rules = serializers.JSONField(help_text='{"op": "all"|"any", "rules": [...]}')

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "rules", "created_at", "updated_at"]
        read_only_fields = fields


class SegmentCountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    count = serializers.IntegerField()


class PreviewInputSerializer(serializers.Serializer):
    rules = serializers.JSONField(help_text='A rule tree: {"op": "all"|"any", "rules": [...]}')
    sample = serializers.IntegerField(min_value=0, max_value=100, default=10)


class SampleCustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField(source="__str__")


class PreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sample = SampleCustomerSerializer(many=True)
