"""Fashion-MNIST from its four IDX files.

The directory is, in order of precedence: the ``data_dir`` argument (the
CLI's ``--data DIR``), the ``FASTACT_DATA`` environment variable, then
``/usr/share/datasets/fashion-mnist``, where Debian's ``dataset-fashion-mnist``
package installs the files.  Files may be gzip-compressed (``NAME.gz``) or
not (``NAME``).  Nothing is downloaded, and nothing is ever substituted for
missing data.
"""
import os

import numpy as np

from .idx import IdxError, read_idx

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
ENV_VAR = "FASTACT_DATA"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
HOW_TO_GET = (
    "On Debian or Ubuntu install them with\n"
    "    apt-get update && apt-get install -y dataset-fashion-mnist\n"
    f"(run as root, or with sudo), which puts them in {DEFAULT_DIR}. Elsewhere, put the four "
    f"files ({', '.join(n + '.gz' for n in FILES.values())}) in a directory and pass --data DIR "
    f"or set {ENV_VAR}=DIR."
)


class DatasetNotFoundError(FileNotFoundError):
    """The dataset files are not where they were looked for."""


def data_dir(data_dir=None):
    """The directory to read from (see the module docstring)."""
    if data_dir:
        return os.fspath(data_dir)
    return os.environ.get(ENV_VAR) or DEFAULT_DIR


def locate(data_dir_=None):
    """``{key: path}`` of the four files, or DatasetNotFoundError saying which
    are missing and how to get them."""
    root = data_dir(data_dir_)
    found, missing = {}, []
    for key, name in FILES.items():
        for candidate in (name + ".gz", name):
            path = os.path.join(root, candidate)
            if os.path.isfile(path):
                found[key] = path
                break
        else:
            missing.append(name + "[.gz]")
    if missing:
        where = "directory does not exist" if not os.path.isdir(root) else "missing " + ", ".join(missing)
        raise DatasetNotFoundError(f"Fashion-MNIST not found in {root} ({where}).\n{HOW_TO_GET}")
    return found


def available(data_dir_=None):
    """Whether the four files are present (their contents are not checked)."""
    try:
        locate(data_dir_)
    except DatasetNotFoundError:
        return False
    return True


def load_fashion_mnist(data_dir_=None, *, scale=True, dtype=np.float32, limit=None, flatten=True):
    """``(x_train, y_train, x_test, y_test)``.

    Images are flattened to rows of ``rows * cols`` values and, with
    ``scale=True``, divided by 255 into [0, 1]; ``scale=False`` keeps the raw
    0..255 pixel values (as float).  Labels are int64 in 0..9.  ``limit`` keeps
    the first ``limit`` samples of each split, for quick runs.  Every file is
    validated: image files must be 3-D uint8, label files 1-D uint8 with
    values 0..9, and each split must have as many labels as images.
    """
    paths = locate(data_dir_)
    out = []
    for split in ("train", "test"):
        ipath, lpath = paths[split + "_images"], paths[split + "_labels"]
        images = read_idx(ipath, ndim=3, dtype=np.uint8)
        labels = read_idx(lpath, ndim=1, dtype=np.uint8)
        if len(images) != len(labels):
            raise IdxError(f"{ipath} holds {len(images)} images but {lpath} holds {len(labels)} labels")
        if len(images) == 0:
            raise IdxError(f"{ipath} holds no images")
        if labels.max() >= len(CLASSES):
            bad = int(np.argmax(labels >= len(CLASSES)))
            raise IdxError(f"{lpath}: label {labels[bad]} at index {bad} is out of range 0..{len(CLASSES) - 1}")
        if limit is not None:
            if int(limit) < 1:
                raise ValueError(f"limit must be >= 1, got {limit}")
            images, labels = images[:int(limit)], labels[:int(limit)]
        x = images.reshape(len(images), -1) if flatten else images
        x = x.astype(dtype)
        if scale:
            x /= np.dtype(dtype).type(255)
        out += [x, labels.astype(np.int64)]
    if out[0].shape[1:] != out[2].shape[1:]:
        raise IdxError(f"{paths['train_images']} and {paths['test_images']} hold images of different "
                       f"sizes ({out[0].shape[1:]} and {out[2].shape[1:]} after flattening)")
    return tuple(out)
