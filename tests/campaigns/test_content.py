"""The campaigns' sandboxed content: validation with the line, rendering per channel."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import dateformat, timezone, translation
from django.utils.html import escape
from django.utils.safestring import mark_safe
from hypothesis import given
from hypothesis import strategies as st

from campaigns import content
from campaigns.content import (
    SAMPLE_CONTEXT,
    ContentError,
    build_context,
    html_to_text,
    render_message,
    sms_segments,
    validate_message,
    validate_template,
)


def refused(source, channel="email", part=None) -> ContentError:
    with pytest.raises(ContentError) as caught:
        validate_template(source, channel, part)
    return caught.value


def context(**overrides):
    values = {
        "customer": {"first_name": "Ann", "name": "Ann Lee", "language": "en"},
        "coupon_code": "SAVE-123",
        "unsubscribe_url": "https://omni.example/u/tok",
        "products": [
            {"name": "Boots", "price": Decimal("59.9"), "url": "https://s/boots", "image": "i"},
            {"name": "Socks", "price": "4", "url": "https://s/socks", "image": "j"},
        ],
        "store": {"name": "Centro", "address": "Gran Vía 1"},
    }
    values.update(overrides)
    return build_context(**values)


# --- validation ---------------------------------------------------------------------------------


def test_a_template_naming_only_whitelisted_variables_is_accepted():
    validate_template(
        "Hi {{ customer.first_name }}, {{ coupon_code }} at {{ store.name }}, {{ store.address }}\n"
        "{% for p in products %}{{ forloop.counter }}. {{ p.name }} {{ p.price }} {{ p.url }}"
        " {{ p.image }}{% empty %}nothing{% endfor %} {{ products.0.name }}"
        "{% if customer.language == 'es' %}Hola{% elif customer.name %}Hello{% endif %}"
        "{% firstof customer.first_name 'friend' %} {{ unsubscribe_url|urlencode }}",
        "email",
    )


def test_an_unknown_variable_is_refused_with_its_line():
    error = refused("Hello\n\n{{ customer.email }}\n")
    assert error.line == 3
    assert error.code == "unknown_variable"
    assert "Line 3" in error.messages[0] and "customer.email" in error.messages[0]


def test_unknown_variables_inside_if_elif_for_and_filter_arguments_are_found():
    assert refused("a\n{% if secret %}x{% endif %}").line == 2
    assert refused("a\n{% if coupon_code %}\nx\n{% elif order.total %}y{% endif %}").line == 4
    assert refused("{% if not coupon_code or store.phone %}{% endif %}").code == "unknown_variable"
    assert refused("{% for p in products %}\n{{ p.cost }}{% endfor %}").line == 2
    assert refused("{{ coupon_code|default:password }}").code == "unknown_variable"
    assert refused("{% firstof coupon_code api_key %}").code == "unknown_variable"


def test_a_loop_variable_is_known_only_inside_its_loop():
    validate_template("{% for item in products %}{{ item.name }}{% endfor %}", "sms")
    assert refused("{% for item in products %}{% endfor %}\n{{ item.name }}", "sms").line == 2
    assert refused("{{ forloop.counter }}", "sms").code == "unknown_variable"


def test_loops_cannot_be_nested():
    source = "{% for a in products %}\n{% for b in products %}{% endfor %}{% endfor %}"
    error = refused(source)
    assert (error.code, error.line) == ("bad_loop", 2)


def test_a_loop_walks_a_whitelisted_list_only():
    assert refused("{% for c in 'abcdef' %}{% endfor %}").code == "bad_loop"
    assert refused("{% for c in customer.name %}{% endfor %}").code == "bad_loop"
    assert refused("{% for a, b in products %}{% endfor %}").code == "bad_loop"


def test_attribute_access_beyond_the_whitelist_is_refused():
    # The context holds dicts and strings: their methods are out of reach too.
    for source in (
        "{{ customer.items }}",
        "{{ customer.first_name.upper }}",
        "{{ products.0.name.split }}",
        "{{ products.pop }}",
        "{{ store.address.__class__ }}",
    ):
        error = refused(source)
        assert error.line == 1, source


def test_a_syntax_error_is_refused_with_its_line():
    error = refused("one\ntwo\n{% if coupon_code %}\nno end")
    assert error.line == 3 and error.code == "syntax"
    assert refused("a\n{{ coupon_code|lower:}}").line == 2
    assert refused("a\nb\n{{ }}").line == 3


@pytest.mark.parametrize(
    "tag",
    [
        "{% include 'admin/base.html' %}",
        "{% extends 'admin/base.html' %}",
        "{% load static %}",
        "{% debug %}",
        "{% ssi '/etc/passwd' %}",
        "{% url 'admin:index' %}",
        "{% autoescape off %}{% endautoescape %}",
        "{% with x=coupon_code %}{% endwith %}",
        "{% block b %}{% endblock %}",
        "{% csrf_token %}",
        "{% lorem 99999 w %}",
    ],
)
def test_forbidden_tags_are_refused_with_their_line(tag):
    error = refused(f"Hi\n{tag}")
    assert error.line == 2 and error.code == "forbidden_tag"
    assert tag.split()[1] in error.messages[0]


@pytest.mark.parametrize("expression", ["coupon_code|safe", "products|safeseq", "coupon_code|center:'99999999'", "products.0.price|floatformat:'9999999'", "coupon_code|pprint"])  # fmt: skip
def test_filters_that_unescape_or_blow_up_are_refused(expression):
    error = refused("x\n{{ " + expression + " }}")
    assert error.line == 2 and error.code == "forbidden_filter"


def test_as_assignments_are_refused():
    assert refused("{% firstof coupon_code 'x' as y %}{{ y }}").code == "forbidden_tag"
    assert refused("{% now 'Y' as year %}").code == "forbidden_tag"


@pytest.mark.parametrize(
    "source", ["a\x00b", "a\ud800b", 42, "x" * (content.MAX_TEMPLATE_LENGTH + 1)]
)
def test_unstorable_wrong_typed_or_huge_sources_are_refused(source):
    with pytest.raises(ContentError):
        validate_template(source, "email")


def test_a_failure_while_rendering_is_a_content_error_with_its_line():
    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(ContentError) as caught:
        render_message("sms", {"body": "a\nb\n{{ coupon_code }}"}, {"coupon_code": Boom()})
    assert caught.value.code == "render" and caught.value.line == 3


def test_validate_message_names_the_part_and_checks_the_channel_limits(settings):
    with pytest.raises(ValidationError) as caught:
        validate_message("email", {"subject": "Hi {{ nobody }}", "html": "<p>ok</p>"})
    assert set(caught.value.message_dict) == {"subject"}
    with pytest.raises(ValidationError) as caught:
        validate_message("email", {"html": "<p>no subject</p>"})
    assert set(caught.value.message_dict) == {"subject"}
    with pytest.raises(ContentError, match="title"):
        validate_message("push", {"title": "x" * 66, "body": "ok"})
    with pytest.raises(ContentError, match="parts"):
        validate_message("sms", {"subject": "x", "body": "y"})
    with pytest.raises(ContentError):
        validate_message("fax", {"body": "y"})
    validate_message("store", {"body": "Call {{ customer.name }} about {{ coupon_code }}"})
    with pytest.raises(ContentError) as caught:
        validate_message("sms", ["body"])
    assert caught.value.code == "parts"
    with pytest.raises(ValidationError) as caught:
        validate_message("sms", {"body": 7})
    assert set(caught.value.message_dict) == {"body"}
    with pytest.raises(ContentError) as caught:
        validate_template("Hi", "sms", "subject")
    assert caught.value.code == "parts"


# --- context ------------------------------------------------------------------------------------


def test_the_context_holds_plain_strings_of_the_whitelist_only():
    built = build_context(
        customer={"first_name": mark_safe("<b>A</b>"), "name": "A", "language": "es", "pk": 7},
        products=[{"name": "P", "price": "3.5", "url": "https://u", "image": "http://i", "c": 1}]
        * 20,
        store=None,
    )
    assert type(built["customer"]["first_name"]) is str
    assert "pk" not in built["customer"]
    assert built["products"][0] == {
        "name": "P",
        "price": "3.50",
        "url": "https://u",
        "image": "http://i",
    }
    assert len(built["products"]) == content.MAX_PRODUCTS
    assert built["store"] == {"name": "", "address": ""}


def test_links_in_the_context_are_web_addresses_only():
    built = build_context(
        customer={},
        unsubscribe_url="javascript:alert(1)",
        products=[{"name": "P", "price": 1, "url": "JAVASCRIPT:x", "image": "data:image/png,x"}],
    )
    assert built["unsubscribe_url"] == ""
    assert (built["products"][0]["url"], built["products"][0]["image"]) == ("", "")
    assert build_context(customer={}, unsubscribe_url="HTTPS://a.example/u")["unsubscribe_url"]


@given(st.text(max_size=60))
def test_any_shopper_name_is_escaped_in_html_and_kept_verbatim_in_text(name):
    values = build_context(customer={"first_name": name, "language": "en"}, coupon_code="C")
    templates = {"subject": "{{ coupon_code }}", "html": "<p>{{ customer.first_name }}</p>"}
    message = render_message("email", templates, values)
    stored = values["customer"]["first_name"]
    assert message.html == "<p>" + escape(stored) + "</p>"
    sms = render_message("sms", {"body": "x{{ customer.first_name }}x"}, values)
    assert sms.body == ("x" + stored + "x").strip()


@pytest.mark.parametrize(
    ("code", "expected"), [("es", "es"), ("es-ES", "es"), ("xx", "en"), ("", "en"), ("../x", "en")]
)
def test_the_rendering_language_is_one_the_project_speaks(code, expected):
    source = {"body": "{{ customer.language }}:{% now 'F' %}"}
    values = context(customer={"language": code})
    body = render_message("store", source, values).body
    with translation.override(expected):
        assert body == code[:10] + ":" + dateformat.format(timezone.now(), "F")


@pytest.mark.parametrize("price", ["abc", "NaN", "Infinity", None, [1]])
def test_a_product_price_must_be_a_finite_number(price):
    with pytest.raises(ContentError):
        build_context(customer={}, products=[{"name": "P", "price": price}])


def test_every_sample_path_is_whitelisted_and_every_whitelisted_path_is_in_the_sample():
    source = " ".join("{{ " + path.replace("[]", ".0") + " }}" for path in content.VARIABLES)
    validate_template(source, "email")
    rendered = render_message("store", {"body": source}, SAMPLE_CONTEXT).body
    assert SAMPLE_CONTEXT["store"]["address"] in rendered


# --- rendering ----------------------------------------------------------------------------------


EMAIL = {
    "subject": "{{ customer.first_name }},\n  your code {{ coupon_code }}",
    "html": (
        "<html><head><style>p {color: red}</style></head><body>"
        "<h1>Hello {{ customer.first_name }}</h1><p>Code: <b>{{ coupon_code }}</b></p>"
        '<ul>{% for p in products %}<li><a href="{{ p.url }}">{{ p.name }}</a> '
        "{{ p.price }} €</li>{% endfor %}</ul>"
        '<p>At {{ store.name }}<br>{{ store.address }}</p><a href="{{ unsubscribe_url }}">'
        "Unsubscribe</a></body></html>"
    ),
}


def test_email_html_is_autoescaped_and_subject_and_text_are_not():
    evil = context(customer={"first_name": "<script>x</script>&", "name": "", "language": "en"})
    message = render_message("email", EMAIL, evil)
    assert "&lt;script&gt;x&lt;/script&gt;&amp;" in message.html
    assert "<script>" not in message.html
    assert message.subject == "<script>x</script>&, your code SAVE-123"
    assert message.body.startswith("Hello <script>x</script>&")


def test_email_text_alternative_is_generated_from_the_html():
    message = render_message("email", EMAIL, context())
    assert message.subject == "Ann, your code SAVE-123"
    assert message.body == (
        "Hello Ann\n\nCode: SAVE-123\n\n- Boots (https://s/boots) 59.90 €\n"
        "- Socks (https://s/socks) 4.00 €\n\nAt Centro\nGran Vía 1\n\n"
        "Unsubscribe (https://omni.example/u/tok)"
    )
    assert "color" not in message.body


def test_email_text_alternative_may_be_given():
    templates = {**EMAIL, "text": "Hi {{ customer.first_name }} & bye"}
    assert render_message("email", templates, context()).body == "Hi Ann & bye"


def test_an_email_whose_subject_renders_empty_is_refused():
    templates = {**EMAIL, "subject": "{{ coupon_code }}"}
    with pytest.raises(ContentError, match="subject"):
        render_message("email", templates, context(coupon_code=""))


def test_sms_is_plain_text_with_its_segments_counted():
    message = render_message("sms", {"body": "Hi {{ customer.first_name }} & <3"}, context())
    assert (message.body, message.encoding, message.segments) == ("Hi Ann & <3", "GSM-7", 1)
    message = render_message("sms", {"body": "Hola {{ customer.name }} 🎉"}, context())
    assert (message.encoding, message.segments) == ("UCS-2", 1)


def test_an_sms_beyond_the_allowed_segments_is_refused(settings):
    settings.MESSAGING_SMS_MAX_SEGMENTS = 2
    body = {"body": "{{ customer.name }}" + "x" * 290}
    assert render_message("sms", body, context()).segments == 2
    with pytest.raises(ContentError, match="3 segments"):
        render_message("sms", {"body": "{{ customer.name }}" + "x" * 310}, context())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("GSM-7", 1)),
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("a" * 306, ("GSM-7", 2)),
        ("a" * 307, ("GSM-7", 3)),
        ("€" * 80, ("GSM-7", 1)),  # an extension character takes two septets
        ("€" * 81, ("GSM-7", 2)),
        ("a" * 152 + "€" + "a" * 152, ("GSM-7", 3)),  # ESC and its character never split
        ("ñáé", ("UCS-2", 1)),  # á is not GSM-7
        ("ś" * 70, ("UCS-2", 1)),
        ("ś" * 71, ("UCS-2", 2)),
        ("ś" * 134, ("UCS-2", 2)),
        ("ś" * 135, ("UCS-2", 3)),
        ("🎉" * 35, ("UCS-2", 1)),  # a surrogate pair is two UTF-16 units
        ("🎉" * 36, ("UCS-2", 2)),
    ],
)
def test_sms_segments(text, expected):
    assert sms_segments(text) == expected


def test_push_title_and_body_limits():
    ok = render_message(
        "push", {"title": "Hi {{ customer.first_name }}", "body": "x" * 240}, context()
    )
    assert (ok.subject, len(ok.body)) == ("Hi Ann", 240)
    with pytest.raises(ContentError, match="body"):
        render_message("push", {"title": "t", "body": "x" * 241}, context())
    with pytest.raises(ContentError, match="title"):
        render_message("push", {"title": "{{ customer.name }}" + "x" * 60, "body": "b"}, context())


def test_store_task_text():
    message = render_message(
        "store", {"body": "Call {{ customer.name }}: {{ products.0.name }} is in"}, context()
    )
    assert (message.channel, message.body) == ("store", "Call Ann Lee: Boots is in")


def test_a_refused_template_is_refused_at_render_time_too():
    with pytest.raises(ContentError) as caught:
        render_message("sms", {"body": "ok\n{% include 'x' %}"}, context())
    assert caught.value.line == 2


def test_messages_render_in_the_shoppers_language():
    source = {"body": "{% now 'F' %}"}
    spanish = render_message("store", source, context(customer={"language": "es"})).body
    english = render_message("store", source, context(customer={"language": "en"})).body
    months_es = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
                 "septiembre", "octubre", "noviembre", "diciembre")  # fmt: skip
    assert spanish.split()[-1] in months_es
    assert english.split()[-1] not in months_es


def test_compiled_templates_are_cached_by_source(monkeypatch):
    compiled = []
    original = content.Template

    def counting(*args, **kwargs):
        compiled.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(content, "Template", counting)
    source = "Cached {{ customer.first_name }} " + str(id(compiled))
    for _ in range(50):
        render_message("sms", {"body": source}, context())
    assert compiled == [source]


def test_the_cache_is_bounded():
    cache = content._TemplateCache(size=3)
    for key in (b"a", b"b", b"c", b"d"):
        cache.put(key, key)
    assert len(cache) == 3 and cache.get(b"a") is None and cache.get(b"d") == b"d"


def test_html_to_text_keeps_structure_and_drops_scripts():
    html = (
        "<p>One &amp; two</p><script>alert(1)</script><div>Three<br>four</div>"
        '<a href="https://x.example/a">https://x.example/a</a> <a href="mailto:a@b">mail</a>'
        '<img alt="Logo" src="l.png"><table><tr><td>a</td><td>b</td></tr></table>'
    )
    assert html_to_text(html) == ("One & two\n\nThree\nfour\n\nhttps://x.example/a mailLogo\n\na b")


def test_html_to_text_collapses_source_whitespace_and_reads_entities_and_quotes():
    html = (
        "<P>Line\n   one<BR>\n  line two</P><!-- a comment <p>hidden</p> -->"
        "<a href='https://x.example/?a=1&amp;b=2'>Go\n now</a>"
        '<a href="/relative">Relative</a> <a name="top">Top</a>'
    )
    assert html_to_text(html) == (
        "Line one\nline two\n\nGo now (https://x.example/?a=1&b=2)Relative Top"
    )


def test_errors_speak_the_marketers_language_while_the_message_speaks_the_shoppers():
    from django.utils import translation

    too_long = {"title": "x" * 66, "body": "ok"}
    with translation.override("en"), pytest.raises(ContentError, match="push title"):
        validate_message("push", too_long)
    with translation.override("es"), pytest.raises(ContentError, match="título"):
        validate_message("push", too_long)
