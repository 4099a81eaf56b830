"""Numeric command-line options: finite, in range, or a usage error naming the option.

``float("inf")``, ``nan`` and ``1e300`` all parse as floats; passed on they end as an
OverflowError deep inside a thread (a timeout) or a loop that never ends.  Every numeric
option goes through :func:`bounded` at the command line instead.
"""

from __future__ import annotations

import math

from attnlock.errors import UsageError

#: A day: the largest timeout any command accepts.
MAX_SECONDS = 24 * 3600.0


def bounded(option: str, value: float, *, minimum: float, maximum: float, inclusive_min: bool = False,
            example: str | None = None) -> float:
    """``value`` when finite and within ``(minimum, maximum]`` (``[minimum, ...]`` with ``inclusive_min``).

    Raises :class:`UsageError` naming ``option``, the accepted range and an example.
    """
    low_ok = value >= minimum if inclusive_min else value > minimum
    if not (math.isfinite(value) and low_ok and value <= maximum):
        low = f"at least {minimum:g}" if inclusive_min else f"more than {minimum:g}"
        raise UsageError(f"{option} must be a finite number {low} and at most {maximum:g}, not {value!r}",
                         hint=f"e.g. {option} {example}" if example else None)
    return value


def seconds(option: str, value: float, *, example: str = "120") -> float:
    """A positive, finite timeout of at most :data:`MAX_SECONDS`."""
    return bounded(option, value, minimum=0.0, maximum=MAX_SECONDS, example=example)
