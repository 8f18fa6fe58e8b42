"""The IDX reader and the Fashion-MNIST loader, on small files written here."""
import gzip
import struct

import numpy as np
import pytest

from fastact.nn import datasets
from fastact.nn.datasets import DatasetNotFoundError, load_fashion_mnist
from fastact.nn.idx import IdxError, parse_idx, read_idx, write_idx


def _header(code, dims):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)


def write_tiny_fashion(root, n_train=40, n_test=20, side=6, classes=10, seed=0, compress=True):
    """A learnable stand-in with the real files' layout: class k lights up pixel k."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % classes).astype(np.uint8)
        rng.shuffle(labels)
        images = rng.integers(0, 40, size=(n, side, side)).astype(np.uint8)
        images.reshape(n, -1)[np.arange(n), labels] = 255
        suffix = ".gz" if compress else ""
        write_idx(root / f"{split}-images-idx3-ubyte{suffix}", images)
        write_idx(root / f"{split}-labels-idx1-ubyte{suffix}", labels)
    return root


# --- the reader ------------------------------------------------------------------

def test_hand_written_bytes_are_parsed_big_endian():
    data = _header(0x0B, (2, 3)) + struct.pack(">6h", 1, -2, 300, -400, 5, 32767)
    a = parse_idx(data)
    assert a.dtype == np.int16 and a.dtype.isnative
    assert a.tolist() == [[1, -2, 300], [-400, 5, 32767]]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_roundtrip(tmp_path, dtype, name):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    write_idx(tmp_path / name, a)
    raw = (tmp_path / name).read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == name.endswith(".gz")
    b = read_idx(tmp_path / name)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_gzip_recognised_by_content_not_name(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    p = tmp_path / "no-suffix"
    write_idx(p, a, compress=True)
    np.testing.assert_array_equal(read_idx(p), a)


def _write(tmp_path, name, data, compress=False):
    p = tmp_path / name
    p.write_bytes(gzip.compress(data) if compress else data)
    return p


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_body_is_an_error_naming_the_file(tmp_path, compress):
    data = _header(0x08, (10, 28, 28)) + bytes(10 * 28 * 28 - 1)
    p = _write(tmp_path, "short-images", data, compress)
    with pytest.raises(IdxError, match="truncated") as err:
        read_idx(p)
    assert "short-images" in str(err.value)


def test_trailing_bytes_are_an_error(tmp_path):
    p = _write(tmp_path, "long", _header(0x08, (4,)) + bytes(5))
    with pytest.raises(IdxError, match="1 unexpected bytes") as err:
        read_idx(p)
    assert "long" in str(err.value)


def test_cut_gzip_stream_is_an_error(tmp_path):
    full = gzip.compress(_header(0x08, (1000,)) + bytes(range(256)) * 4)
    p = tmp_path / "cut.gz"
    p.write_bytes(full[: len(full) // 2])
    with pytest.raises(IdxError, match="gzip") as err:
        read_idx(p)
    assert "cut.gz" in str(err.value)


def test_corrupt_gzip_is_an_error(tmp_path):
    p = _write(tmp_path, "bad.gz", b"\x1f\x8b\x08\x00" + b"\xff" * 40)
    with pytest.raises(IdxError, match="bad.gz"):
        read_idx(p)


@pytest.mark.parametrize("data, message", [
    (b"", "too short"),
    (b"\x00\x00", "too short"),
    (b"PK\x03\x04" + bytes(20), "bad magic number 0x504B0304"),
    (b"\x00\x01\x08\x01" + bytes(8), "bad magic"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"x", "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 1), "truncated header"),
])
def test_bad_headers(tmp_path, data, message):
    p = _write(tmp_path, "broken", data)
    with pytest.raises(IdxError, match=message) as err:
        read_idx(p)
    assert "broken" in str(err.value)


def test_expected_shape_and_dtype_are_checked(tmp_path):
    p = tmp_path / "labels"
    write_idx(p, np.zeros((2, 3), dtype=np.uint8))
    with pytest.raises(IdxError, match="expected 1-D"):
        read_idx(p, ndim=1)
    with pytest.raises(IdxError, match="expected float32"):
        read_idx(p, dtype=np.float32)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_idx(tmp_path / "nowhere")


# --- the Fashion-MNIST loader --------------------------------------------------------

@pytest.mark.parametrize("compress", [True, False])
def test_load_tiny_dataset(tmp_path, compress):
    root = write_tiny_fashion(tmp_path / "fm", compress=compress)
    x, y, xt, yt = load_fashion_mnist(root)
    assert x.shape == (40, 36) and xt.shape == (20, 36)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() == 1.0
    raw = read_idx(root / ("train-images-idx3-ubyte" + (".gz" if compress else "")))
    np.testing.assert_allclose(x * 255, raw.reshape(40, -1), rtol=1e-6)
    x_raw, *_ = load_fashion_mnist(root, scale=False)
    assert x_raw.max() == 255.0
    xl, yl, xtl, ytl = load_fashion_mnist(root, limit=7)
    assert len(xl) == len(yl) == len(xtl) == len(ytl) == 7
    np.testing.assert_array_equal(yl, y[:7])


def test_environment_variable_points_to_the_data(tmp_path, monkeypatch):
    root = write_tiny_fashion(tmp_path / "elsewhere")
    monkeypatch.setenv("FASTACT_DATA", str(root))
    assert len(load_fashion_mnist()[0]) == 40
    assert datasets.data_dir("explicit") == "explicit"


def test_missing_dataset_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTACT_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError) as err:
        load_fashion_mnist(tmp_path / "empty")
    text = str(err.value)
    assert "apt-get install -y dataset-fashion-mnist" in text and "--data" in text
    (tmp_path / "partial").mkdir()
    write_idx(tmp_path / "partial" / "train-images-idx3-ubyte.gz", np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(DatasetNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_fashion_mnist(tmp_path / "partial")


def test_label_out_of_range(tmp_path):
    root = write_tiny_fashion(tmp_path / "fm")
    labels = read_idx(root / "t10k-labels-idx1-ubyte.gz")
    labels[3] = 10
    write_idx(root / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(IdxError, match="label 10 at index 3") as err:
        load_fashion_mnist(root)
    assert "t10k-labels-idx1-ubyte.gz" in str(err.value)


def test_label_count_mismatch(tmp_path):
    root = write_tiny_fashion(tmp_path / "fm")
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(39, np.uint8))
    with pytest.raises(IdxError, match="40 images but .* 39 labels"):
        load_fashion_mnist(root)


def test_images_and_labels_swapped(tmp_path):
    root = write_tiny_fashion(tmp_path / "fm")
    images = (root / "train-images-idx3-ubyte.gz").read_bytes()
    (root / "train-labels-idx1-ubyte.gz").write_bytes(images)
    with pytest.raises(IdxError, match="expected 1-D") as err:
        load_fashion_mnist(root)
    assert "train-labels-idx1-ubyte.gz" in str(err.value)


@pytest.mark.skipif(not datasets.available(), reason="Fashion-MNIST not installed "
                    "(apt-get install -y dataset-fashion-mnist)")
def test_real_dataset():
    x, y, xt, yt = load_fashion_mnist()
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    # The published splits are balanced: 6000 and 1000 images per class.
    assert np.bincount(y).tolist() == [6000] * 10
    assert np.bincount(yt).tolist() == [1000] * 10
    assert x.min() == 0.0 and x.max() == 1.0
