"""A campaign's uplift over its holdout (control) group: did the customers who got the campaign
convert more, and spend more, than the customers held out of it?

Pure statistics (standard library only, no models, no database): the caller counts the two
groups in one query and passes the numbers in.

- Conversion: the difference of the two conversion rates, treated − holdout, with the Newcombe
  hybrid score interval (:func:`conversion_uplift`).
- Revenue: the difference of the mean revenue per customer, treated − holdout, from each group's
  sufficient statistics (n, Σx, Σx²), with a Welch (unpooled) standard error and a normal
  approximation (:func:`revenue_uplift`). Customers without a purchase count as 0 revenue, so
  n is the size of the group, not its number of buyers.

Every interval is two-sided, at ``confidence`` (95 % by default); an uplift is significant when
its interval excludes 0.
"""

import math
from dataclasses import dataclass
from statistics import NormalDist

__all__ = ["Interval", "Uplift", "conversion_uplift", "measure", "revenue_uplift"]


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval ``[low, high]``."""

    estimate: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0 (low > 0 or high < 0)."""
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class Uplift:
    """A campaign's treated group against its holdout. Every derived field is None when a group
    is too small to say: empty (n = 0), or fewer than 2 customers for the revenue interval.

    - ``rate_*`` = converted / n
    - ``conversion`` = rate_treated − rate_holdout, with its interval
    - ``relative`` = rate_treated / rate_holdout − 1 (None when the holdout rate is 0)
    - ``revenue_per_customer`` = mean revenue treated − mean revenue holdout, with its interval
    - ``incremental_conversions`` = conversion.estimate × treated
    - ``incremental_revenue`` = revenue_per_customer.estimate × treated
    """

    treated: int
    converted_treated: int
    holdout: int
    converted_holdout: int
    rate_treated: float | None
    rate_holdout: float | None
    conversion: Interval | None
    relative: float | None
    revenue_per_customer: Interval | None
    incremental_conversions: float | None
    incremental_revenue: float | None


# --- Validation -------------------------------------------------------------------------------


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")


def _check_converted(name: str, converted: int, n_name: str, n: int) -> None:
    _check_count(n_name, n)
    _check_count(name, converted)
    if converted > n:
        raise ValueError(f"{name} ({converted}) must not exceed {n_name} ({n})")


def _check_finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _z(confidence: float) -> float:
    """The two-sided normal quantile z = Φ⁻¹(1 − α/2), α = 1 − confidence."""
    _check_finite("confidence", confidence)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


# --- Conversion -------------------------------------------------------------------------------


def wilson(*, converted: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of the proportion p = converted / n (n > 0):

    (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)

    Clamped to [0, 1] against rounding (mathematically it never leaves it)."""
    p = converted / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return max(0.0, (centre - half) / scale), min(1.0, (centre + half) / scale)


def conversion_uplift(
    *,
    treated: int,
    converted_treated: int,
    holdout: int,
    converted_holdout: int,
    confidence: float = 0.95,
) -> Interval | None:
    """The difference of conversion rates D = p₁ − p₂ (p₁ = treated, p₂ = holdout) and its
    Newcombe hybrid score interval (method 10 in Newcombe 1998, *Interval estimation for the
    difference between independent proportions*, Stat. Med. 17:873–890).

    With (l₁, u₁) and (l₂, u₂) the Wilson score intervals of p₁ and p₂ (:func:`wilson`)::

        low  = D − √((p₁ − l₁)² + (u₂ − p₂)²)
        high = D + √((u₁ − p₁)² + (p₂ − l₂)²)

    Why not the textbook Wald interval D ± z·√(p₁(1−p₁)/n₁ + p₂(1−p₂)/n₂) (unpooled standard
    error)? For large groups with rates well inside (0, 1) the two agree, but Wald's coverage
    collapses near 0 or 1 and in small groups (0/n gives a zero-width interval); Newcombe's
    keeps close to nominal coverage there and stays inside [−1, 1]. None when a group is empty.
    """
    _check_converted("converted_treated", converted_treated, "treated", treated)
    _check_converted("converted_holdout", converted_holdout, "holdout", holdout)
    z = _z(confidence)
    if treated == 0 or holdout == 0:
        return None
    p1, p2 = converted_treated / treated, converted_holdout / holdout
    l1, u1 = wilson(converted=converted_treated, n=treated, z=z)
    l2, u2 = wilson(converted=converted_holdout, n=holdout, z=z)
    d = p1 - p2
    return Interval(
        estimate=d,
        low=d - math.hypot(p1 - l1, u2 - p2),
        high=d + math.hypot(u1 - p1, p2 - l2),
    )


# --- Revenue ----------------------------------------------------------------------------------


def _mean_and_variance(*, n: int, total: float, total_sq: float) -> tuple[float, float]:
    """Mean Σx/n and sample variance s² = (Σx² − (Σx)²/n) / (n − 1), for n ≥ 2. A variance a
    little below 0 from floating-point cancellation is 0; clearly below 0, the sums cannot come
    from one set of numbers (Σx² ≥ (Σx)²/n, Cauchy–Schwarz)."""
    mean = total / n
    deviation_sq = total_sq - total * mean
    if deviation_sq < -1e-9 * max(total_sq, 1.0):
        raise ValueError(
            f"inconsistent sums: Σx² ({total_sq}) is below (Σx)²/n ({total * mean}) for n = {n}"
        )
    return mean, max(0.0, deviation_sq) / (n - 1)


def _check_sums(name: str, n: int, total: float, total_sq: float) -> None:
    _check_count(f"{name}_n", n)
    _check_finite(f"{name}_sum", total)
    _check_finite(f"{name}_sum_sq", total_sq)
    if total_sq < 0:
        raise ValueError(f"{name}_sum_sq must not be negative, got {total_sq}")
    if n == 0 and (total or total_sq):
        raise ValueError(f"{name}_sum and {name}_sum_sq must be 0 for an empty group")


def revenue_uplift(
    *,
    treated_n: int,
    treated_sum: float,
    treated_sum_sq: float,
    holdout_n: int,
    holdout_sum: float,
    holdout_sum_sq: float,
    confidence: float = 0.95,
) -> Interval | None:
    """The difference of mean revenue per customer, x̄₁ − x̄₂ (treated − holdout), from each
    group's sufficient statistics n, Σx, Σx² (every customer of the group counts, those without
    a purchase with x = 0), and its interval::

        x̄ = Σx / n,   s² = (Σx² − (Σx)²/n) / (n − 1)
        SE = √(s₁²/n₁ + s₂²/n₂)                  (Welch: unpooled, unequal variances)
        x̄₁ − x̄₂ ± z·SE

    A normal approximation (z, not Student's t): sound for the large groups of a campaign,
    where the central limit theorem covers skewed revenue; for a few dozen customers it is
    somewhat narrow. None when a group has fewer than 2 customers (no variance to estimate).
    """
    _check_sums("treated", treated_n, treated_sum, treated_sum_sq)
    _check_sums("holdout", holdout_n, holdout_sum, holdout_sum_sq)
    z = _z(confidence)
    if treated_n < 2 or holdout_n < 2:
        return None
    mean1, var1 = _mean_and_variance(n=treated_n, total=treated_sum, total_sq=treated_sum_sq)
    mean2, var2 = _mean_and_variance(n=holdout_n, total=holdout_sum, total_sq=holdout_sum_sq)
    d = mean1 - mean2
    half = z * math.sqrt(var1 / treated_n + var2 / holdout_n)
    return Interval(estimate=d, low=d - half, high=d + half)


# --- Both -------------------------------------------------------------------------------------


def _pair(name: str, sums: tuple[float, float]) -> tuple[float, float]:
    if not isinstance(sums, tuple | list) or len(sums) != 2:
        raise ValueError(f"{name} must be a pair (Σx, Σx²), got {sums!r}")
    return sums[0], sums[1]


def _rate(converted: int, n: int) -> float | None:
    return converted / n if n else None


def _relative(rate_treated: float | None, rate_holdout: float | None) -> float | None:
    """rate_treated / rate_holdout − 1; None without both rates or with a holdout rate of 0."""
    if rate_treated is None or not rate_holdout:
        return None
    return rate_treated / rate_holdout - 1


def measure(
    *,
    treated: int,
    converted_treated: int,
    holdout: int,
    converted_holdout: int,
    treated_revenue: tuple[float, float] = (0.0, 0.0),
    holdout_revenue: tuple[float, float] = (0.0, 0.0),
    confidence: float = 0.95,
) -> Uplift:
    """The campaign's :class:`Uplift`. ``treated_revenue`` and ``holdout_revenue`` are each
    group's (Σx, Σx²) of revenue per customer over all its customers (``treated`` and
    ``holdout``), buyers or not."""
    conversion = conversion_uplift(
        treated=treated,
        converted_treated=converted_treated,
        holdout=holdout,
        converted_holdout=converted_holdout,
        confidence=confidence,
    )
    treated_sum, treated_sum_sq = _pair("treated_revenue", treated_revenue)
    holdout_sum, holdout_sum_sq = _pair("holdout_revenue", holdout_revenue)
    revenue = revenue_uplift(
        treated_n=treated,
        treated_sum=treated_sum,
        treated_sum_sq=treated_sum_sq,
        holdout_n=holdout,
        holdout_sum=holdout_sum,
        holdout_sum_sq=holdout_sum_sq,
        confidence=confidence,
    )
    rate_treated, rate_holdout = (
        _rate(converted_treated, treated),
        _rate(converted_holdout, holdout),
    )
    return Uplift(
        treated=treated,
        converted_treated=converted_treated,
        holdout=holdout,
        converted_holdout=converted_holdout,
        rate_treated=rate_treated,
        rate_holdout=rate_holdout,
        conversion=conversion,
        relative=_relative(rate_treated, rate_holdout),
        revenue_per_customer=revenue,
        incremental_conversions=None if conversion is None else conversion.estimate * treated,
        incremental_revenue=None if revenue is None else revenue.estimate * treated,
    )
