"""Fit the polynomial coefficients used by fastact._math (run by hand, needs mpmath).

Near-minimax fits (Chebyshev interpolation in 60-digit arithmetic) of
  Q(r) = (exp(r) - 1 - r) / r**2            on |r| <= ln(2)/2
  P(z) = (2*atanh(sqrt(z)) - 2*sqrt(z)) / z**1.5   on 0 <= z <= (3 - 2*sqrt(2))**2
The coefficients are printed lowest degree first, as Python float literals,
with the largest relative error of the fit.
"""
import mpmath as mp

mp.mp.dps = 60


def q_exp(r):
    if abs(r) < mp.mpf("1e-20"):
        return mp.mpf(1) / 2
    return (mp.exp(r) - 1 - r) / r**2


def p_log(z):
    if z < mp.mpf("1e-30"):
        return mp.mpf(2) / 3
    s = mp.sqrt(z)
    return (2 * mp.atanh(s) - 2 * s) / (z * s)


def fit(f, lo, hi, degree):
    poly, err = mp.chebyfit(f, [lo, hi], degree + 1, error=True)
    coeffs = [float(c) for c in reversed(poly)]
    # relative error of the fit itself, measured on a dense grid
    worst = max(
        abs(mp.polyval(poly, x) - f(x)) / abs(f(x))
        for x in mp.linspace(lo, hi, 2001)
    )
    return coeffs, worst


if __name__ == "__main__":
    half_ln2 = mp.log(2) / 2
    smax = 3 - 2 * mp.sqrt(2)  # |f / (2 + f)| for f in [sqrt(2)/2 - 1, sqrt(2) - 1]
    for name, f, lo, hi, deg in [
        ("EXP_Q32", q_exp, -half_ln2, half_ln2, 5),
        ("EXP_Q64", q_exp, -half_ln2, half_ln2, 10),
        ("LOG_P32", p_log, 0, smax**2, 3),
        ("LOG_P64", p_log, 0, smax**2, 7),
    ]:
        coeffs, worst = fit(f, lo, hi, deg)
        print(f"{name} = ({', '.join(repr(c) for c in coeffs)})  # rel. error {float(worst):.2e}")
