"""Text that comes from outside: what PostgreSQL cannot store, and what an error may echo.

PostgreSQL refuses NUL in ``text`` and ``\\u0000`` in ``jsonb``; a lone UTF-16 surrogate
(U+D800–U+DFFF without its pair) cannot be encoded to UTF-8 at all. Both are refused at the
door (``omni.api.parsers``) and, where a service takes text from elsewhere, by the service.
"""

import re

# After JSON decoding a valid surrogate pair is one character, so any surrogate left is lone.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
ECHO_LENGTH = 100  # a value quoted in an error message
MESSAGE_LENGTH = 200  # a whole error message (which may quote a shortened value)


def is_storable(value: str) -> bool:
    """True when PostgreSQL can store ``value`` (no NUL, no lone surrogate)."""
    return UNSTORABLE.search(value) is None


def shorten(value, limit: int = ECHO_LENGTH) -> str:
    """``value`` as text fit to echo in a message: at most ``limit`` characters, printable
    in UTF-8 (a lone surrogate becomes U+FFFD)."""
    text = UNSTORABLE.sub("\ufffd", str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"
