"""Customers API: the event batch endpoint and the signed-in shopper's own data."""

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from customers import services
from customers.models import ConsentChannel, ConsentPurpose, ConsentSource, Customer
from omni.api.schema import CONFLICT, ERROR_RESPONSES, TOO_LARGE, TOO_MANY
from omni.network import client_address


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "duplicate", "identified", "error"])
    event_id = serializers.IntegerField(allow_null=True)
    customer_id = serializers.IntegerField(allow_null=True)
    error = serializers.DictField(allow_null=True)


EventBatchRequest = inline_serializer(
    name="EventBatch",
    fields={
        "batch": serializers.ListField(
            child=serializers.DictField(),
            max_length=500,
            help_text="track / page / identify calls: type, event, message_id, anonymous_id, "
            "email, phone, loyalty_card, pos_id, push_token, channel, timestamp, properties, "
            "traits.",
        )
    },
)


class EventBatchView(APIView):
    """Up to 500 events per call, each idempotent by ``message_id``.

    Anyone may send anonymous events (``anonymous_id`` / ``push_token`` only). Personal
    identifiers (e-mail, phone, card, till id, …) need a server key: a token of a user with the
    ``customers.add_event`` permission (till, storefront back end, ERP).
    """

    permission_classes = [permissions.AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "events"
    # One event with a NUL or a lone surrogate is that event's error (the service checks every
    # text it stores), not a refused batch.
    refuse_unstorable_text = False

    @extend_schema(
        summary="Record a batch of events",
        request=EventBatchRequest,
        responses={
            200: EventResultSerializer(many=True),
            **TOO_LARGE,
            **ERROR_RESPONSES,
        },
    )
    def post(self, request):
        data = request.data
        batch = data.get("batch") if isinstance(data, dict) else data
        if not isinstance(batch, list):
            raise ValidationError({"batch": [_('Send {"batch": [ ...events ]}.')]})
        trusted = request.user.is_authenticated and request.user.has_perm("customers.add_event")
        results = services.record_events(events=batch, trusted=trusted)
        return Response([r.__dict__ for r in results], status=status.HTTP_200_OK)


class ShopperPermission(permissions.IsAuthenticated):
    message = _("Sign in as a shopper first.")


class ProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "first_name", "last_name", "birth_date", "preferred_language", "home_store"]
        read_only_fields = ["id"]


class IdentitySerializer(serializers.Serializer):
    kind = serializers.CharField()
    value = serializers.CharField()
    verified = serializers.BooleanField()
    source = serializers.CharField()


class ConsentSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=ConsentChannel.choices)
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
    state = serializers.CharField(read_only=True)
    granted = serializers.BooleanField(write_only=True)
    wording_version = serializers.CharField(max_length=40, required=False, default="")
    created_at = serializers.DateTimeField(read_only=True)


class MeView(APIView):
    permission_classes = [ShopperPermission]

    @extend_schema(summary="My profile", responses={200: ProfileSerializer, **ERROR_RESPONSES})
    def get(self, request):
        return Response(ProfileSerializer(services.customer_for_user(request.user)).data)

    @extend_schema(
        summary="Change my profile",
        request=ProfileSerializer,
        responses={200: ProfileSerializer, **ERROR_RESPONSES},
    )
    def patch(self, request):
        customer = services.customer_for_user(request.user)
        serializer = ProfileSerializer(customer, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data.get("preferred_language") not in (
            None,
            *dict(settings.LANGUAGES),
        ):
            raise ValidationError({"preferred_language": [_("Unsupported language.")]})
        with transaction.atomic():
            serializer.save()
        return Response(serializer.data)


class MyIdentitiesView(APIView):
    permission_classes = [ShopperPermission]

    @extend_schema(summary="My identifiers", responses={200: IdentitySerializer(many=True)})
    def get(self, request):
        customer = services.customer_for_user(request.user)
        return Response(IdentitySerializer(customer.identities.all(), many=True).data)


class MyConsentsView(APIView):
    permission_classes = [ShopperPermission]

    @extend_schema(summary="My current consents", responses={200: ConsentSerializer(many=True)})
    def get(self, request):
        customer = services.customer_for_user(request.user)
        current = services.current_consents(customer).values()
        return Response(ConsentSerializer(current, many=True).data)

    @extend_schema(
        summary="Give or withdraw a consent (recorded as evidence)",
        request=ConsentSerializer,
        responses={201: ConsentSerializer, **ERROR_RESPONSES},
    )
    def post(self, request):
        payload = ConsentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        consent = services.set_consent(
            customer=services.customer_for_user(request.user),
            channel=data["channel"],
            purpose=data["purpose"],
            granted=data["granted"],
            source=ConsentSource.SHOPPER_ACCOUNT,
            wording_version=data["wording_version"],
            evidence={
                "ip": client_address(request),
                "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
            },
        )
        return Response(ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)


class MyExportView(APIView):
    permission_classes = [ShopperPermission]

    @extend_schema(
        summary="Everything Omni holds about me (GDPR export)",
        responses={200: inline_serializer("CustomerExport", {"customer": serializers.DictField()})},
    )
    def get(self, request):
        return Response(services.export_customer(services.customer_for_user(request.user)))


class _StrictCharField(serializers.CharField):
    """A JSON string only (DRF's CharField turns numbers into strings)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class _CodeField(_StrictCharField, serializers.RegexField):
    pass


class PhoneStartSerializer(serializers.Serializer):
    phone = _StrictCharField(max_length=32, help_text="E.164 or a Spanish number.")


class PhoneConfirmSerializer(PhoneStartSerializer):
    code = _CodeField(
        r"^[0-9]{6}\Z",
        error_messages={"invalid": _("Enter the 6 digits of the code, as a string.")},
        help_text="The 6 digits sent by SMS, as a string.",
    )


class PhoneVerificationSerializer(serializers.Serializer):
    phone = serializers.CharField(help_text="E.164.")
    expires_at = serializers.DateTimeField()


class PhoneVerifiedSerializer(serializers.Serializer):
    phone = serializers.CharField(help_text="E.164.")
    verified = serializers.BooleanField(
        help_text="False while another account holds this phone verified: the two profiles "
        "wait in the staff's review queue."
    )


class MyPhoneView(APIView):
    permission_classes = [ShopperPermission]

    @extend_schema(
        summary="Send me a code by SMS to verify a phone",
        description="202: a 6-digit code valid for 10 minutes was sent. Errors: "
        "`invalid_identifier` (400), `too_many_verifications` (429: 5 codes an hour per "
        "shopper and per phone).",
        request=PhoneStartSerializer,
        responses={202: PhoneVerificationSerializer, **TOO_MANY, **ERROR_RESPONSES},
    )
    def post(self, request):
        payload = PhoneStartSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        verification = services.start_phone_verification(
            customer=services.customer_for_user(request.user),
            phone=payload.validated_data["phone"],
        )
        body = PhoneVerificationSerializer(verification).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class MyPhoneVerifyView(APIView):
    """Not atomic as a whole: a wrong code is counted even though the call fails."""

    permission_classes = [ShopperPermission]

    @extend_schema(
        summary="Verify my phone with the code sent to it",
        description="The phone is proved: the guest orders placed with it join my account. "
        "Errors: `wrong_phone_code` (400), `phone_code_expired` (400), "
        "`phone_verification_not_found` (404), `phone_code_used` (409), `too_many_attempts` "
        "(429: the 5th wrong code locks it; ask for a new one).",
        request=PhoneConfirmSerializer,
        responses={
            200: PhoneVerifiedSerializer,
            **CONFLICT,
            **TOO_MANY,
            **ERROR_RESPONSES,
        },
    )
    def post(self, request):
        payload = PhoneConfirmSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        verification = services.confirm_phone_verification(
            customer=services.customer_for_user(request.user),
            phone=data["phone"],
            code=data["code"],
        )
        held = verification.customer.identities.filter(kind="phone", value=verification.phone)
        body = {"phone": verification.phone, "verified": held.filter(verified=True).exists()}
        return Response(PhoneVerifiedSerializer(body).data)
