"""Reader and writer for the IDX files of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the values in C
order, big-endian.  Files may be gzip-compressed (recognised by content, not
by name).  Every inconsistency is an :class:`IdxError` naming the file: bad
magic, unknown type code, a truncated header or body, bytes left over after
the data, a broken gzip stream.  Nothing is ever silently cut short.
"""
import gzip
import os
import zlib

import numpy as np

# type code -> big-endian dtype
IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class IdxError(ValueError):
    """A file is not a valid IDX file; the message names the file."""


def _read_bytes(path):
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"IDX file not found: {path}") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise IdxError(f"{path}: gzip stream is truncated (the file was cut short, "
                       "e.g. by an interrupted download)") from None
    except (OSError, zlib.error) as exc:
        raise IdxError(f"{path}: corrupt gzip data ({exc})") from None


def parse_idx(data, name="<bytes>"):
    """Parse the bytes of an IDX file into a native-endian ndarray."""
    if len(data) < 4:
        raise IdxError(f"{name}: {len(data)} bytes is too short for an IDX header (4 bytes at least)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    magic = int.from_bytes(data[:4], "big")
    if zero0 or zero1:
        raise IdxError(f"{name}: bad magic number 0x{magic:08X}; an IDX file starts with two zero "
                       "bytes (e.g. 0x00000803 for images, 0x00000801 for labels)")
    if code not in IDX_TYPES:
        raise IdxError(f"{name}: unknown IDX type code 0x{code:02X} in magic number 0x{magic:08X} "
                       f"(known: {', '.join(f'0x{c:02X}' for c in IDX_TYPES)})")
    if ndim == 0:
        raise IdxError(f"{name}: magic number 0x{magic:08X} declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{name}: truncated header: {ndim} dimensions need {header} bytes, "
                       f"the file has {len(data)}")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    body = len(data) - header
    if body < expected:
        raise IdxError(f"{name}: truncated: dimensions {dims} need {expected} bytes of data, "
                       f"the file has {body}")
    if body > expected:
        raise IdxError(f"{name}: {body - expected} unexpected bytes after the data of "
                       f"dimensions {dims} (wrong header or concatenated files?)")
    array = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return array.reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path, *, ndim=None, dtype=None):
    """Read an IDX file (plain or gzip-compressed).

    ``ndim`` and ``dtype``, when given, are checked: a labels file read with
    ``ndim=1, dtype=np.uint8`` that turns out to hold images is an error, not a
    surprise later.
    """
    path = os.fspath(path)
    array = parse_idx(_read_bytes(path), path)
    if ndim is not None and array.ndim != ndim:
        raise IdxError(f"{path}: expected {ndim}-D data, the file holds {array.ndim}-D data "
                       f"of shape {array.shape}")
    if dtype is not None and array.dtype != np.dtype(dtype):
        raise IdxError(f"{path}: expected {np.dtype(dtype)} values, the file holds {array.dtype}")
    return array


def write_idx(path, array, compress=None):
    """Write ``array`` as an IDX file; gzip-compressed if ``compress`` is true
    or, when it is None, if the name ends in ``.gz``."""
    path = os.fspath(path)
    array = np.ascontiguousarray(array)
    codes = {dt.newbyteorder("="): c for c, dt in IDX_TYPES.items()}
    key = array.dtype.newbyteorder("=")
    if key not in codes:
        raise TypeError(f"IDX cannot store dtype {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX stores 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, codes[key], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(IDX_TYPES[codes[key]]).tobytes()
    if compress is None:
        compress = path.endswith(".gz")
    if compress:
        payload = gzip.compress(payload, mtime=0)
    with open(path, "wb") as fh:
        fh.write(payload)
