"""A campaign's uplift over its holdout: seeded experiments with a known effect (the intervals
cover it), A/A experiments (they seldom see an effect), published and hand-computed values, and
the edges. Pure statistics: no database."""

import dataclasses
import math
import random
from statistics import NormalDist, fmean, variance

import pytest

from campaigns.uplift import Interval, conversion_uplift, measure, revenue_uplift, wilson

Z95 = NormalDist().inv_cdf(0.975)  # 1.959964
CUSTOMERS = 20_000
# Revenue of a converting customer: lognormal with median 50 € (skewed, like real baskets).
MU, SIGMA = math.log(50), 0.6
BASKET_MEAN = math.exp(MU + SIGMA**2 / 2)  # E[a] = 59.86 €
BASKET_SQ = math.exp(2 * MU + 2 * SIGMA**2)  # E[a²]


# --- Simulation -------------------------------------------------------------------------------


def simulate_group(rng, *, n, rate):
    """n customers converting with probability ``rate``, each converter spending a lognormal
    basket, the others 0: (converted, Σx, Σx²) over the whole group."""
    draw = rng.random
    converted = sum(1 for _ in range(n) if draw() < rate)
    baskets = [rng.lognormvariate(MU, SIGMA) for _ in range(converted)]
    return converted, math.fsum(baskets), math.fsum(x * x for x in baskets)


def experiment(seed, *, holdout_share, rate_treated, rate_holdout):
    """CUSTOMERS customers, each held out with probability ``holdout_share``."""
    rng = random.Random(seed)
    draw = rng.random
    holdout = sum(1 for _ in range(CUSTOMERS) if draw() < holdout_share)
    treated = CUSTOMERS - holdout
    conv_t, sum_t, sq_t = simulate_group(rng, n=treated, rate=rate_treated)
    conv_h, sum_h, sq_h = simulate_group(rng, n=holdout, rate=rate_holdout)
    return measure(
        treated=treated,
        converted_treated=conv_t,
        holdout=holdout,
        converted_holdout=conv_h,
        treated_revenue=(sum_t, sq_t),
        holdout_revenue=(sum_h, sq_h),
    )


def revenue_variance(rate):
    """Variance of one customer's revenue x = converted × basket: p·E[a²] − (p·E[a])²."""
    return rate * BASKET_SQ - (rate * BASKET_MEAN) ** 2


def true_standard_errors(*, holdout_share, rate_treated, rate_holdout):
    n_t, n_h = CUSTOMERS * (1 - holdout_share), CUSTOMERS * holdout_share
    conversion = math.sqrt(
        rate_treated * (1 - rate_treated) / n_t + rate_holdout * (1 - rate_holdout) / n_h
    )
    revenue = math.sqrt(revenue_variance(rate_treated) / n_t + revenue_variance(rate_holdout) / n_h)
    return conversion, revenue


def contains(interval, value):
    return interval.low <= value <= interval.high


def half_width(interval):
    return (interval.high - interval.low) / 2


# --- 1. A known effect: 12 % against 8 % ----------------------------------------------------

EFFECT = {"rate_treated": 0.12, "rate_holdout": 0.08}
TRUE_CONVERSION = 0.04
TRUE_REVENUE = (0.12 - 0.08) * BASKET_MEAN  # 2.39 € per customer


@pytest.mark.parametrize("holdout_share", [0.10, 0.50])
def test_a_known_effect_is_found_significant_and_inside_the_interval(holdout_share):
    uplift = experiment(2026, holdout_share=holdout_share, **EFFECT)

    assert uplift.treated + uplift.holdout == CUSTOMERS
    assert abs(uplift.holdout - CUSTOMERS * holdout_share) < 4 * math.sqrt(
        CUSTOMERS * holdout_share * (1 - holdout_share)
    )
    assert contains(uplift.conversion, TRUE_CONVERSION) and uplift.conversion.significant
    assert uplift.conversion.low > 0
    assert contains(uplift.revenue_per_customer, TRUE_REVENUE)
    assert uplift.revenue_per_customer.significant and uplift.revenue_per_customer.low > 0
    # Not trivially wide: ≈ z × the true standard error (Newcombe ≈ Wald for large groups).
    se_conversion, se_revenue = true_standard_errors(holdout_share=holdout_share, **EFFECT)
    assert half_width(uplift.conversion) == pytest.approx(Z95 * se_conversion, rel=0.1)
    assert half_width(uplift.revenue_per_customer) == pytest.approx(Z95 * se_revenue, rel=0.15)
    # The derived figures follow from the estimates.
    assert uplift.rate_treated == uplift.converted_treated / uplift.treated
    assert uplift.relative == pytest.approx(uplift.rate_treated / uplift.rate_holdout - 1)
    assert 0.2 < uplift.relative < 0.9  # the true relative uplift is 0.5
    assert uplift.incremental_conversions == pytest.approx(
        uplift.conversion.estimate * uplift.treated
    )
    assert uplift.incremental_revenue == pytest.approx(
        uplift.revenue_per_customer.estimate * uplift.treated
    )


@pytest.mark.parametrize("holdout_share", [0.10, 0.50])
def test_the_95_percent_intervals_cover_the_true_effect_in_about_95_percent_of_experiments(
    holdout_share,
):
    """20 seeded experiments: at least 17 intervals contain the true value (with a true coverage
    of 95 %, 16 or fewer happen with probability 1.6 %), and the intervals are not wider than
    they should be (a much wider interval would cover trivially)."""
    runs = [experiment(seed, holdout_share=holdout_share, **EFFECT) for seed in range(20)]

    assert sum(contains(u.conversion, TRUE_CONVERSION) for u in runs) >= 17
    assert sum(contains(u.revenue_per_customer, TRUE_REVENUE) for u in runs) >= 17
    se_conversion, se_revenue = true_standard_errors(holdout_share=holdout_share, **EFFECT)
    mean_conversion = fmean(half_width(u.conversion) for u in runs)
    mean_revenue = fmean(half_width(u.revenue_per_customer) for u in runs)
    assert mean_conversion == pytest.approx(Z95 * se_conversion, rel=0.05)
    assert mean_revenue == pytest.approx(Z95 * se_revenue, rel=0.1)


# --- 2. A/A: no effect ------------------------------------------------------------------------


def test_without_an_effect_few_experiments_report_one():
    """100 seeded A/A experiments, both groups converting at 10 % with the same baskets, split
    50/50 (even seeds) or 90/10 (odd seeds). At 95 % confidence about 5 in 100 are significant
    by chance: the count of false positives is Binomial(100, 0.05), so "at most 5" would fail
    for 38 % of seed choices; more than 10 happens with probability 1.1 %. An interval too
    narrow by a third (z ≈ 1.3 instead of 1.96) gives about 19."""
    no_effect = {"rate_treated": 0.10, "rate_holdout": 0.10}
    runs = [
        experiment(seed, holdout_share=0.5 if seed % 2 == 0 else 0.1, **no_effect)
        for seed in range(1000, 1100)
    ]

    assert sum(u.conversion.significant for u in runs) <= 10
    assert sum(u.revenue_per_customer.significant for u in runs) <= 10
    # The figure, on these (unchosen) seeds: the conversion uplift — the one the results
    # page reports as "significant" — is not significant in at least 95 of the 100.
    assert sum(not u.conversion.significant for u in runs) >= 95


# --- 3. Published and hand-computed values ---------------------------------------------------


def test_wilson_score_interval_by_hand():
    # 56/70, z = 1.959964: p = 0.8, z² = 3.841459
    # centre = (0.8 + 3.841459/140) / (1 + 3.841459/70) = 0.827439 / 1.054878 = 0.784393
    # half = 1.959964 × √(0.16/70 + 3.841459/19600) / 1.054878 = 0.092559
    # → (0.691834, 0.876953)
    assert wilson(converted=56, n=70, z=Z95) == pytest.approx((0.691834, 0.876953), abs=1e-6)
    # 0/n: (0, z²/(n + z²)); n/n: (n/(n + z²), 1)
    assert wilson(converted=0, n=10, z=Z95) == pytest.approx((0, 3.841459 / 13.841459))
    assert wilson(converted=10, n=10, z=Z95) == pytest.approx((10 / 13.841459, 1))


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [
        # Newcombe (1998), Table II, method 10 (score, no continuity correction).
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
        (10, 10, 0, 10, 0.6075, 1.0000),
    ],
)
def test_conversion_interval_matches_newcombe_method_10(x1, n1, x2, n2, low, high):
    interval = conversion_uplift(treated=n1, converted_treated=x1, holdout=n2, converted_holdout=x2)

    assert interval.estimate == pytest.approx(x1 / n1 - x2 / n2)
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=5e-5)


def test_conversion_interval_by_hand_is_not_wald():
    # 56/70 − 48/80: D = 0.8 − 0.6 = 0.2. Wilson: 56/70 → (0.691834, 0.876953),
    # 48/80 → (0.490455, 0.700382).
    # low  = 0.2 − √((0.8 − 0.691834)² + (0.700382 − 0.6)²) = 0.2 − 0.147569 = 0.052431
    # high = 0.2 + √((0.876953 − 0.8)² + (0.6 − 0.490455)²) = 0.2 + 0.133873 = 0.333873
    # Wald would give 0.2 ± 1.959964 × √(0.16/70 + 0.24/80) = (0.0575, 0.3425).
    interval = conversion_uplift(treated=70, converted_treated=56, holdout=80, converted_holdout=48)

    assert (interval.estimate, interval.low, interval.high) == pytest.approx(
        (0.2, 0.052431, 0.333873), abs=1e-6
    )
    assert interval.significant


def test_revenue_interval_by_hand():
    # Treated spend 0, 10, 20: n = 3, Σx = 30, Σx² = 500, mean 10, s² = (500 − 900/3)/2 = 100.
    # Holdout spend 0, 0, 5, 15: n = 4, Σx = 20, Σx² = 250, mean 5, s² = (250 − 400/4)/3 = 50.
    # SE = √(100/3 + 50/4) = √45.8333 = 6.770032; 5 ± 1.959964 × 6.770032 = 5 ± 13.269019.
    treated, holdout = [0, 10, 20], [0, 0, 5, 15]
    interval = revenue_uplift(
        treated_n=3,
        treated_sum=30,
        treated_sum_sq=500,
        holdout_n=4,
        holdout_sum=20,
        holdout_sum_sq=250,
    )

    assert (interval.estimate, interval.low, interval.high) == pytest.approx(
        (5, -8.269019, 18.269019), abs=1e-6
    )
    assert not interval.significant
    se = math.sqrt(variance(treated) / 3 + variance(holdout) / 4)
    assert half_width(interval) == pytest.approx(Z95 * se)


def test_the_confidence_sets_the_width():
    counts = {"treated": 1000, "converted_treated": 120, "holdout": 1000, "converted_holdout": 90}
    sums = {
        "treated_n": 100,
        "treated_sum": 700.0,
        "treated_sum_sq": 90_000.0,
        "holdout_n": 100,
        "holdout_sum": 500.0,
        "holdout_sum_sq": 80_000.0,
    }
    for uplift in (conversion_uplift, revenue_uplift):
        kwargs = counts if uplift is conversion_uplift else sums
        widths = [half_width(uplift(**kwargs, confidence=c)) for c in (0.8, 0.95, 0.99)]
        assert widths[0] < widths[1] < widths[2]
    revenue = revenue_uplift(**sums, confidence=0.99)
    assert half_width(revenue) / half_width(revenue_uplift(**sums)) == pytest.approx(
        NormalDist().inv_cdf(0.995) / Z95
    )


# --- 4. Edges ---------------------------------------------------------------------------------


def test_an_empty_group_leaves_every_derived_figure_unknown():
    for treated, holdout in ((500, 0), (0, 500), (0, 0)):
        uplift = measure(
            treated=treated,
            converted_treated=treated // 10,
            holdout=holdout,
            converted_holdout=holdout // 10,
        )
        assert uplift.conversion is None and uplift.revenue_per_customer is None
        assert uplift.relative is None
        assert uplift.incremental_conversions is None and uplift.incremental_revenue is None
        assert uplift.rate_treated == (0.1 if treated else None)
        assert uplift.rate_holdout == (0.1 if holdout else None)


def test_a_holdout_of_one_has_a_conversion_interval_but_no_revenue_interval():
    uplift = measure(
        treated=100,
        converted_treated=10,
        holdout=1,
        converted_holdout=0,
        treated_revenue=(500.0, 30_000.0),
    )

    assert uplift.conversion is not None and not uplift.conversion.significant
    assert uplift.revenue_per_customer is None and uplift.incremental_revenue is None
    assert uplift.relative is None  # holdout rate 0


def test_no_conversions_anywhere_is_an_interval_around_zero():
    uplift = measure(treated=900, converted_treated=0, holdout=100, converted_holdout=0)

    assert uplift.conversion.estimate == 0
    assert uplift.conversion.low < 0 < uplift.conversion.high
    assert not uplift.conversion.significant
    # The Wilson upper bounds of 0/100 and 0/900: z²/(n + z²).
    assert -uplift.conversion.low == pytest.approx(Z95**2 / (100 + Z95**2))
    assert uplift.conversion.high == pytest.approx(Z95**2 / (900 + Z95**2))
    assert uplift.relative is None
    assert uplift.incremental_conversions == 0
    assert uplift.revenue_per_customer == Interval(estimate=0, low=0, high=0)
    assert not uplift.revenue_per_customer.significant


def test_everyone_converting_stays_within_bounds():
    both = conversion_uplift(treated=50, converted_treated=50, holdout=20, converted_holdout=20)
    assert both.estimate == 0 and both.low < 0 < both.high and not both.significant
    assert both.low >= -1 and both.high <= 1

    one = measure(treated=50, converted_treated=50, holdout=20, converted_holdout=0)
    assert one.conversion.estimate == 1 and one.conversion.high == 1
    assert one.conversion.significant and one.conversion.low > 0.7
    assert one.relative is None and one.incremental_conversions == 50

    half = measure(treated=50, converted_treated=50, holdout=20, converted_holdout=10)
    assert half.relative == pytest.approx(1.0)


def test_identical_groups_show_no_uplift():
    uplift = measure(
        treated=400,
        converted_treated=40,
        holdout=400,
        converted_holdout=40,
        treated_revenue=(2400.0, 180_000.0),
        holdout_revenue=(2400.0, 180_000.0),
    )

    assert uplift.relative == 0
    for interval in (uplift.conversion, uplift.revenue_per_customer):
        assert interval.estimate == 0 and interval.low == -interval.high < 0
        assert not interval.significant


def test_revenue_from_raw_amounts_matches_the_sufficient_statistics():
    rng = random.Random(7)
    treated = [rng.choice((0, 0, 0, rng.uniform(20, 120))) for _ in range(300)]
    holdout = [rng.choice((0, 0, 0, 0, rng.uniform(20, 120))) for _ in range(200)]

    interval = revenue_uplift(
        treated_n=len(treated),
        treated_sum=sum(treated),
        treated_sum_sq=sum(x * x for x in treated),
        holdout_n=len(holdout),
        holdout_sum=sum(holdout),
        holdout_sum_sq=sum(x * x for x in holdout),
    )

    se = math.sqrt(variance(treated) / len(treated) + variance(holdout) / len(holdout))
    assert interval.estimate == pytest.approx(fmean(treated) - fmean(holdout))
    assert half_width(interval) == pytest.approx(Z95 * se)


@pytest.mark.parametrize(
    ("interval", "significant"),
    [
        (Interval(estimate=0.02, low=0.01, high=0.03), True),
        (Interval(estimate=-0.02, low=-0.03, high=-0.01), True),
        (Interval(estimate=0.01, low=-0.01, high=0.03), False),
        (Interval(estimate=0.01, low=0.0, high=0.02), False),  # touches 0: does not exclude it
        (Interval(estimate=0.0, low=0.0, high=0.0), False),
    ],
)
def test_significant_means_the_interval_excludes_zero(interval, significant):
    assert interval.significant is significant


def test_results_are_frozen():
    uplift = measure(treated=10, converted_treated=1, holdout=10, converted_holdout=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        uplift.treated = 11
    with pytest.raises(dataclasses.FrozenInstanceError):
        uplift.conversion.low = 0


COUNTS = {"treated": 100, "converted_treated": 10, "holdout": 100, "converted_holdout": 5}
SUMS = {
    "treated_n": 10,
    "treated_sum": 100.0,
    "treated_sum_sq": 5000.0,
    "holdout_n": 10,
    "holdout_sum": 50.0,
    "holdout_sum_sq": 2000.0,
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"treated": -1}, "treated must not be negative"),
        ({"converted_holdout": -1}, "converted_holdout must not be negative"),
        ({"converted_treated": 101}, r"converted_treated \(101\) must not exceed treated \(100\)"),
        ({"converted_holdout": 101}, r"converted_holdout \(101\) must not exceed holdout"),
        ({"holdout": 1.5}, "holdout must be a whole number"),
        ({"treated": True}, "treated must be a whole number"),
        ({"confidence": 0}, "confidence must lie strictly between 0 and 1"),
        ({"confidence": 1}, "confidence must lie strictly between 0 and 1"),
        ({"confidence": 95}, "confidence must lie strictly between 0 and 1"),
        ({"confidence": math.nan}, "confidence must be a finite number"),
    ],
)
def test_conversion_rejects_invalid_input(changes, message):
    with pytest.raises(ValueError, match=message):
        conversion_uplift(**{**COUNTS, **changes})
    with pytest.raises(ValueError, match=message):
        measure(**{**COUNTS, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"treated_n": -2}, "treated_n must not be negative"),
        ({"treated_sum": math.nan}, "treated_sum must be a finite number"),
        ({"holdout_sum": math.inf}, "holdout_sum must be a finite number"),
        ({"holdout_sum_sq": -math.inf}, "holdout_sum_sq must be a finite number"),
        ({"treated_sum": "100"}, "treated_sum must be a number"),
        ({"holdout_sum_sq": -1.0}, "holdout_sum_sq must not be negative"),
        ({"treated_sum_sq": 900.0}, r"inconsistent sums: Σx² \(900.0\) is below"),
        ({"holdout_n": 0}, "holdout_sum and holdout_sum_sq must be 0 for an empty group"),
        ({"confidence": math.inf}, "confidence must be a finite number"),
        ({"confidence": -0.5}, "confidence must lie strictly between 0 and 1"),
    ],
)
def test_revenue_rejects_invalid_input(changes, message):
    with pytest.raises(ValueError, match=message):
        revenue_uplift(**{**SUMS, **changes})


def test_measure_rejects_a_revenue_that_is_not_a_pair():
    with pytest.raises(ValueError, match=r"treated_revenue must be a pair \(Σx, Σx²\)"):
        measure(**COUNTS, treated_revenue=(100.0,))
    with pytest.raises(ValueError, match="holdout_sum must be a finite number"):
        measure(**COUNTS, holdout_revenue=(math.nan, 0.0))
    # An empty group with revenue is a caller's mistake too, not a silent None.
    with pytest.raises(ValueError, match="holdout_sum and holdout_sum_sq must be 0"):
        measure(**{**COUNTS, "holdout": 0, "converted_holdout": 0}, holdout_revenue=(5.0, 25.0))
