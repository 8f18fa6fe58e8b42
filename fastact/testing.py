"""Helpers for checking fastact against its references: ulp error against a
higher-precision result.  Used by the test suite and by the docs' accuracy
tables (tools/gen_docs.py)."""
import numpy as np

# np.longdouble is 80-bit extended on x86-64 Linux: 64 significand bits, 11
# more than float64, enough to measure float64 errors to about 1/1000 ulp.
HIGH = np.longdouble


def ulp_error(got, exact, dtype):
    """|got - exact| in units in the last place of ``dtype`` at ``exact``.

    ``exact`` is a higher-precision array (longdouble).  The ulp of a value is
    the spacing of ``dtype`` at that value rounded to ``dtype`` (the subnormal
    spacing below the normal range).  NaN against NaN and equal infinities
    count 0; NaN against a number or inf against a finite value count inf.
    """
    dtype = np.dtype(dtype)
    got = np.asarray(got)
    exact = np.asarray(exact, dtype=HIGH)
    got, exact = np.broadcast_arrays(got, exact)
    with np.errstate(all="ignore"):
        rounded = exact.astype(dtype)
        spacing = np.spacing(np.abs(rounded)).astype(HIGH)
        tiny = HIGH(np.finfo(dtype).smallest_subnormal)
        spacing = np.where(np.isfinite(spacing), np.maximum(spacing, tiny), HIGH(np.finfo(dtype).max) * HIGH(2.0) ** -np.finfo(dtype).nmant)
        err = np.abs(got.astype(HIGH) - exact) / spacing
        # both NaN, or the same infinity (also when exact overflows dtype)
        same = (np.isnan(got) & np.isnan(exact)) | (np.isinf(got) & (got == rounded))
        err = np.where(same, HIGH(0), err)
        err = np.where(np.isnan(err), HIGH(np.inf), err)
    return err.astype(np.float64)


def max_ulp(got, exact, dtype):
    """Largest ulp error and the index where it occurs."""
    err = ulp_error(got, exact, dtype)
    if err.size == 0:
        return 0.0, None
    i = int(np.argmax(err))
    return float(err.reshape(-1)[i]), i
