"""The client's address, as the trusted proxies report it (settings.TRUSTED_PROXY_COUNT)."""

from rest_framework.throttling import BaseThrottle


def client_address(request) -> str:
    """REMOTE_ADDR when no proxy is trusted; else the address the outermost trusted proxy saw
    (DRF's NUM_PROXIES rule, so throttling and evidence agree)."""
    return BaseThrottle().get_ident(request)
