#!/usr/bin/env python3
"""Build the small Fashion-MNIST fixture embedded into `diag` (DataSpec::Fixture).

Source: the gzipped IDX files of Debian's `dataset-fashion-mnist` package
(default folder /usr/share/datasets/fashion-mnist/, override with --source).

Selection (fully deterministic, Python 3 standard library only):

* training split: 500 images of each of the 10 classes (5,000 in all), drawn
  from the 60,000 training images with ``random.Random(SEED)``;
* test split: 100 images of each class (1,000 in all), drawn from the 10,000
  test images with ``random.Random(SEED + 1)``;
* within a split, classes are visited in order 0..9 and, for each class,
  ``rng.sample(indices_of_that_class_in_file_order, per_class)`` picks the
  images; the union is then sorted, so the fixture keeps the original file
  order of the Debian files.

SEED is 20240611. The output is four gzipped IDX files with the standard
names (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) written with
gzip level 9 and mtime 0, so reruns produce byte-identical files.

Usage:
    python3 scripts/make_fixture.py [--source DIR] [--out DIR]

Default --out is fixtures/fashion-mnist-small/ next to this script's parent.
"""

import argparse
import gzip
import hashlib
import os
import random
import struct
import sys

SEED = 20240611
CLASSES = 10
TRAIN_PER_CLASS = 500
TEST_PER_CLASS = 100

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def read_maybe_gzip(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def find(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            return path
    sys.exit(f"{os.path.join(folder, name)}: not found (also tried .gz)")


def read_images(path):
    data = read_maybe_gzip(path)
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != IMAGES_MAGIC:
        sys.exit(f"{path}: wrong magic 0x{magic:08x}")
    dim = rows * cols
    if len(data) != 16 + n * dim:
        sys.exit(f"{path}: size does not match header")
    return [data[16 + i * dim : 16 + (i + 1) * dim] for i in range(n)], rows, cols


def read_labels(path):
    data = read_maybe_gzip(path)
    magic, n = struct.unpack(">II", data[:8])
    if magic != LABELS_MAGIC:
        sys.exit(f"{path}: wrong magic 0x{magic:08x}")
    if len(data) != 8 + n:
        sys.exit(f"{path}: size does not match header")
    return list(data[8:])


def select(labels, per_class, seed):
    rng = random.Random(seed)
    chosen = []
    for c in range(CLASSES):
        of_class = [i for i, label in enumerate(labels) if label == c]
        chosen.extend(rng.sample(of_class, per_class))
    return sorted(chosen)


def write_gzip(path, payload):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(gzip.compress(payload, compresslevel=9, mtime=0))
    os.replace(tmp, path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f"{path}: {os.path.getsize(path)} bytes, sha256 {digest}")


def make_split(source, out, prefix, per_class, seed):
    images, rows, cols = read_images(find(source, f"{prefix}-images-idx3-ubyte"))
    labels = read_labels(find(source, f"{prefix}-labels-idx1-ubyte"))
    if len(images) != len(labels):
        sys.exit(f"{prefix}: {len(images)} images but {len(labels)} labels")
    keep = select(labels, per_class, seed)
    n = len(keep)
    image_bytes = struct.pack(">IIII", IMAGES_MAGIC, n, rows, cols) + b"".join(
        images[i] for i in keep
    )
    label_bytes = struct.pack(">II", LABELS_MAGIC, n) + bytes(labels[i] for i in keep)
    write_gzip(os.path.join(out, f"{prefix}-images-idx3-ubyte.gz"), image_bytes)
    write_gzip(os.path.join(out, f"{prefix}-labels-idx1-ubyte.gz"), label_bytes)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument(
        "--out",
        default=os.path.join(here, "..", "fixtures", "fashion-mnist-small"),
    )
    args = parser.parse_args()
    out = os.path.normpath(args.out)
    os.makedirs(out, exist_ok=True)
    make_split(args.source, out, "train", TRAIN_PER_CLASS, SEED)
    make_split(args.source, out, "t10k", TEST_PER_CLASS, SEED + 1)


if __name__ == "__main__":
    main()
