"""What every part of mq_producer's configuration shares: the error a bad setting raises, what
a number in a setting is, and the wrapper that keeps a secret out of repr(), str() and logs."""

import math
from urllib.parse import SplitResult, urlsplit


class SettingsError(ValueError):
    """A setting or environment variable of mq_producer is invalid; the message names it."""


def is_number(value: object) -> bool:
    """An int or a float, finite (NaN compares false with every bound, and an infinite
    interval or timeout never ends); not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


def split_url(url: str, name: str, schemes: tuple[str, ...], form: str
              ) -> tuple[SplitResult, int | None]:
    """``url`` split, its scheme one of ``schemes``, its host there and its port (None when it
    has none) valid. The errors name ``name`` and show ``form``, and never quote a piece of the
    URL but a scheme before '://': an unescaped '/', '#', '?' or ':' in a password makes
    urllib take a piece of it for the port, the path or the scheme."""
    try:
        parts = urlsplit(url)
    except ValueError:  # its text may quote a piece of an unescaped password
        raise SettingsError(f"{name}: malformed URL (an IPv6 host goes in brackets; escape "
                            "special characters of the user and password as %XX)") from None
    if parts.scheme not in schemes:
        got = f"scheme {parts.scheme!r}" if parts.scheme and url.startswith(
            f"{parts.scheme}://") else "no scheme:// at its start"
        raise SettingsError(f"{name}: expected {form}, got {got}")
    if "@" in parts.path + parts.query + parts.fragment:  # a password cut by '/', '?', '#'
        raise SettingsError(f"{name}: '@' after the host: escape '/', '?' and '#' in the user "
                            "and password (and '@' in a path) as %XX")
    try:
        port = parts.port
    except ValueError:  # its text may quote a piece of an unescaped password
        port = 0
    if port == 0:
        raise SettingsError(f"{name}: invalid port: expected a number 1-65535 after the host "
                            "(escape '/', '?', '#', '@' and ':' in the user and password as "
                            "%XX)")
    if not parts.hostname:
        raise SettingsError(f"{name}: no host in the URL")
    return parts, port


class Secret:
    """A value that never shows itself in repr(), str() or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__
