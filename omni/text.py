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


def unstorable_path(data) -> tuple | None:
    """The path of the first key or string PostgreSQL cannot store, or None."""
    if type(data) is str:
        return () if UNSTORABLE.search(data) else None
    if type(data) is not dict and type(data) is not list:
        return None
    search = UNSTORABLE.search
    stack = [(data, ())]
    while stack:
        node, path = stack.pop()
        for key, value in node.items() if type(node) is dict else enumerate(node):
            if type(key) is str and search(key):
                return (*path, key)
            if type(value) is str:
                if search(value):
                    return (*path, key)
            elif type(value) is dict or type(value) is list:
                stack.append((value, (*path, key)))
    return None


def path_name(path: tuple) -> str:
    """("batch", 0, "properties", "k") → "batch[0].properties.k" (safe to echo)."""
    name = ""
    for part in path:
        name += f"[{part}]" if type(part) is int else f".{shorten(part)}"
    return name.lstrip(".") or "body"
