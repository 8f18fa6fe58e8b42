"""Fit the polynomial coefficients used by fastact._math (run by hand, needs mpmath).

    python tools/fit_polynomials.py          # exp and log1p (printed)
    python tools/fit_polynomials.py --erf    # writes fastact/_erf_data.py (the error function
                                             # family's pieces, gelu's S and D: float32's rational
                                             # fits, float64's polynomial in 4 / (u + 4))

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


def main():
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


# ---------------------------------------------------------------------------
# The error function family (fastact/_erf_data.py, written by --erf)
#
# With u >= 0 and e(u) = exp(-u**2 / 2), the standard normal tail is
# Phi(-u) = e(u) S(u); gelu and its derivative need
#   S(u) = Phi(-u) exp(u**2 / 2)                  (forward)
#   D(u) = u / sqrt(2 pi) - S(u)                  (backward: gelu'(-u) = -e D)
# and erfc(z) = exp(-z**2) R(z) with R(z) = exp(z**2) erfc(z), z >= 0.  Each is
# fitted piecewise: a polynomial in (u - centre) on each bounded interval,
# and in the tail a polynomial in (w - centre), w = 2 / u**2 (1 / z**2 for R),
# of u S(u), D(u) / u and z R(z).  erf(z) / z is fitted in z**2 near 0.

def _c():
    return 1 / mp.sqrt(2 * mp.pi)


def f_S(u):
    return mp.erfc(u / mp.sqrt(2)) / 2 * mp.exp(u * u / 2)


def f_D(u):
    return _c() * u - f_S(u)


def f_R(z):
    return mp.erfc(z) * mp.exp(z * z)


def tail_R(w):
    return 1 / mp.sqrt(mp.pi) if w == 0 else (lambda z: z * f_R(z))(1 / mp.sqrt(w))


def small_erf(t):
    return 2 / mp.sqrt(mp.pi) if t == 0 else mp.erf(mp.sqrt(t)) / mp.sqrt(t)


# breakpoints of the bounded intervals (the last one starts the tail) and the
# polynomial degree, per dtype; the degrees are the smallest for which every
# piece fits within TOL (relative to the largest value on the piece)
ERF_LAYOUT = {
    "float32": dict(z=(1.0, 2.0), tol=3e-9, erf_hi=0.75),
    "float64": dict(z=(1.0, 2.0, 3.0), tol=1e-17, erf_hi=0.75),
}


def _centred_fit(f, lo, hi, degree):
    """Coefficients (lowest first) of a polynomial in v = x - (lo + hi) / 2,
    and its error relative to the largest |f| on [lo, hi]."""
    mid = (lo + hi) / 2
    h = (hi - lo) / 2
    g = lambda v: f(mid + v)  # noqa: E731
    poly = mp.chebyfit(g, [-h, h], degree + 1)
    xs = mp.linspace(-h, h, 400)
    scale = max(abs(g(v)) for v in xs)
    worst = max(abs(mp.polyval(poly, v) - g(v)) for v in xs) / scale
    return mid, [c for c in reversed(poly)], worst


def _pieces(f, tail, breaks, wscale, tol):
    """[(centre, coeffs)] for the bounded pieces then the tail; one degree."""
    edges = [mp.mpf(0)] + [mp.mpf(b) for b in breaks]
    spans = [(edges[i], edges[i + 1], f) for i in range(len(breaks))]
    spans.append((mp.mpf(0), wscale / mp.mpf(breaks[-1]) ** 2, tail))
    for degree in range(2, 40):
        fits = [_centred_fit(fn, lo, hi, degree) for lo, hi, fn in spans]
        if max(w for _, _, w in fits) < tol:
            return degree, fits
    raise RuntimeError("no degree fits")


def erf_data():
    out = {}
    for dt, lay in ERF_LAYOUT.items():
        tol = lay["tol"]
        d = {}
        degree, fits = _pieces(f_R, tail_R, lay["z"], mp.mpf(1), tol)
        d["R"] = dict(breaks=lay["z"], centres=[float(m) for m, _, _ in fits],
                      coeffs=[[float(c) for c in cs] for _, cs, _ in fits],
                      error=float(max(w for _, _, w in fits)))
        hi = mp.mpf(lay["erf_hi"]) ** 2
        for degree in range(2, 40):
            poly = mp.chebyfit(small_erf, [0, hi], degree + 1)
            worst = max(abs(mp.polyval(poly, t) / small_erf(t) - 1) for t in mp.linspace(0, hi, 400))
            if worst < tol:
                break
        d["E"] = dict(hi=lay["erf_hi"], coeffs=[float(c) for c in reversed(poly)], error=float(worst))
        if dt == "float32":
            d["G"] = gelu_rational()
            d["GD"] = gelu_slope_rational()
        else:
            d["W"] = gelu_w(tol)
        out[dt] = d
    return out


# float32 gelu: a rational form of S (one division, no pieces).  With
# K = sqrt(2 pi) rounded to float32 (within 0.002 ulp of it),
#   S(u) = b(u) / (K u b(u) + a(u)),  i.e.  a / b = g(u) = 1 / S(u) - K u,
# a of degree 4 and b of degree 5 with b(0) = 1 and a(0) = 2 (so S(0) = 1/2
# exactly, and a(0) is a float32 number), fitted on [0, GELU_UMAX] for
# the error of S relative to S.  g is smooth (it falls from 2 to about
# K / u), and in K u b + a the error of b cancels against the numerator's b
# for large u, where K u b dominates.  Linearized least squares in
# u / GELU_UMAX, reweighted (Lawson) towards the minimax error.
GELU_UMAX = 14.5  # float32 gelu(-u) rounds to -0 beyond about 14.36
GELU_DEGREES = (4, 5)


def _chebyshev_nodes(hi, nodes):
    """Chebyshev points of [0, hi], ascending."""
    import numpy as np

    j = np.arange(nodes)
    return np.sort(hi / 2 * (1 + np.cos(np.pi * (j + 0.5) / nodes)))


def _rational_fit(t, g, scale, m, n, a0=None, rounds=300):
    """a / b ~ g at the nodes t (b(0) = 1; a(0) = a0 when given), minimizing
    the largest |a / b - g| * scale: linearized least squares (a - g b = 0),
    reweighted (Lawson) towards the minimax error.  Returns (error, a, b)."""
    import numpy as np

    va = np.vander(t, m + 1, increasing=True)
    vb = np.vander(t, n + 1, increasing=True)
    free = va if a0 is None else va[:, 1:]
    w = np.full(len(t), 1.0 / len(t))
    b_prev = np.ones(len(t))
    best = None
    for _ in range(rounds):
        row = np.sqrt(w) * scale / np.abs(b_prev)
        lhs = np.hstack([free, -g[:, None] * vb[:, 1:]]) * row[:, None]
        c = np.linalg.lstsq(lhs, (g if a0 is None else g - a0) * row, rcond=None)[0]
        k = free.shape[1]
        a = c[:k] if a0 is None else np.concatenate([[a0], c[:k]])
        b = np.concatenate([[1.0], c[k:]])
        err = (va @ a / (vb @ b) - g) * scale
        worst = float(np.abs(err).max())
        if best is None or worst < best[0]:
            best = (worst, a, b)
        b_prev = vb @ b
        w = w * np.sqrt(np.abs(err))
        w /= w.sum()
    return best


def gelu_rational(nodes=4000, rounds=300):
    import numpy as np

    k32 = float(np.float32(np.sqrt(2 * np.pi)))
    m, n = GELU_DEGREES
    xs = _chebyshev_nodes(GELU_UMAX, nodes)
    g = np.array([float(1 / f_S(mp.mpf(x)) - mp.mpf(k32) * mp.mpf(x)) for x in xs])
    to_s = 1 / (k32 * xs + g)  # an error in g, times this, is S's relative error
    # a(t) - g b(t) = 0 with a0 = 2, b0 = 1: linear in the other coefficients
    worst, a, b = _rational_fit(xs / GELU_UMAX, g, to_s, m, n, a0=2.0, rounds=rounds)
    return dict(a=[float(c) / GELU_UMAX ** i for i, c in enumerate(a)],
                b=[float(c) / GELU_UMAX ** i for i, c in enumerate(b)], k=k32, umax=GELU_UMAX, error=worst)


# float32 gelu's backward: gelu'(-u) = -e D(u), and D has a zero at u = r
# (about 0.7518; gelu' crosses zero at x = -r).  With C = 1 / sqrt(2 pi)
# rounded to float32,
#   D(u) = (u - r) (C + p(u) / b(u)),
# p of degree 3 and b of degree 4 with b(0) = 1, fitted on [0, GELU_SLOPE_UMAX]
# for the error relative to D / (u - r) (which falls from about 0.665 to C:
# the rational part is at most about 0.4 of it, so its rounding errors count
# for less).  r is carried as two float32 numbers, hi + lo, to about 2**-48, so
# that the factor u - r keeps relative accuracy next to the zero.
GELU_SLOPE_UMAX = 16.0  # the backward's clamp: e D(16) = 1.6e-55, g e D rounds to 0 for |g| < 4e9
GELU_SLOPE_DEGREES = (3, 4)


def gelu_slope_rational(nodes=3000, rounds=200):
    import numpy as np

    r = mp.findroot(f_D, mp.mpf("0.75"))
    r_hi = float(np.float32(float(r)))
    r_lo = float(np.float32(float(r - mp.mpf(r_hi))))
    c32 = float(np.float32(float(_c())))
    m, n = GELU_SLOPE_DEGREES
    xs = _chebyshev_nodes(GELU_SLOPE_UMAX, nodes)
    h = [f_D(mp.mpf(x)) / (mp.mpf(x) - r) for x in xs]
    g = np.array([float(v - mp.mpf(c32)) for v in h])
    worst, a, b = _rational_fit(xs / GELU_SLOPE_UMAX, g, 1 / np.array([float(v) for v in h]), m, n,
                                rounds=rounds)
    return dict(p=[float(c) / GELU_SLOPE_UMAX ** i for i, c in enumerate(a)],
                b=[float(c) / GELU_SLOPE_UMAX ** i for i, c in enumerate(b)], c=c32, r_hi=r_hi, r_lo=r_lo,
                umax=GELU_SLOPE_UMAX, error=worst)


# float64 gelu: S as one polynomial (no pieces, no tail).  With
# w = K / (u + K), K = 4, on u in [0, GELU64_UMAX] (w in [1/11, 1]),
#   S(u) = w G(v),  v = w - 1/2,
# G = S / w a polynomial in v, fitted (Chebyshev interpolation) for the error
# relative to G.  G falls from 1/2 to about 0.11; S itself falls to 0.01,
# where a fit of S lost about 6 ulp to cancellation between its terms.  v is
# at most 1/2: w - 1/2 is exact for w >= 1/4, and its rounding below that is
# found exactly (Fast2Sum) and put back by the caller.  The first two
# coefficients are also given to twice the precision ("lo"): their rounding
# counted for up to 2 ulp where v is near -0.4.
GELU64_K = 4.0
GELU64_CENTRE = 0.5
GELU64_UMAX = 40.0  # float64 gelu(-u) and gelu'(-u) are 0 beyond about 38.6


def gelu_w(tol):
    k, centre, umax = mp.mpf(GELU64_K), mp.mpf(GELU64_CENTRE), mp.mpf(GELU64_UMAX)
    lo = k / (umax + k) - centre
    g = lambda v: f_S(k / (centre + v) - k) / (centre + v)  # noqa: E731
    xs = mp.linspace(lo, 1 - centre, 800)
    for degree in range(16, 40):
        poly = mp.chebyfit(g, [lo, 1 - centre], degree + 1)
        worst = max(abs(mp.polyval(poly, v) / g(v) - 1) for v in xs)
        if worst < tol:
            break
    else:
        raise RuntimeError("no degree fits")
    cs = list(reversed(poly))
    return dict(k=GELU64_K, centre=GELU64_CENTRE, umax=GELU64_UMAX, coeffs=[float(c) for c in cs],
                lo=[float(c - mp.mpf(float(c))) for c in cs[:2]], error=float(worst))


def write_erf_data(path):
    data = erf_data()
    with open(path, "w") as fh:
        fh.write('"""Coefficients of the error function family (fastact._math): polynomial\n'
                 'pieces; the rational S of float32 gelu ("G") and of its backward\'s D ("GD");\n'
                 'float64 gelu\'s S as one polynomial ("W").\n\n'
                 'Written by tools/fit_polynomials.py --erf; do not edit by hand.\n"""\n\n')
        fh.write(f"ERF_FITS = {data!r}\n")
    for dt, d in data.items():
        for k, v in d.items():
            degree = (len(v["a"]) - 1, len(v["b"]) - 1) if k == "G" else \
                (len(v["p"]) - 1, len(v["b"]) - 1) if k == "GD" else \
                len(v["coeffs"][0] if k == "R" else v["coeffs"]) - 1
            print(dt, k, "degree", degree, "error", v["error"])


if __name__ == "__main__":
    import os
    import sys

    if "--erf" in sys.argv:
        write_erf_data(os.path.join(os.path.dirname(__file__), "..", "fastact", "_erf_data.py"))
    else:
        main()
