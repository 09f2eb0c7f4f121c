"""What every part of mq_producer's configuration shares: the error a bad setting raises, and
the wrapper that keeps a secret out of repr(), str() and logs."""


class SettingsError(ValueError):
    """A setting or environment variable of mq_producer is invalid; the message names it."""


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
