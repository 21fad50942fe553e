"""A user's own data for `derive train --data FILE`: a CSV with a header row, or an `.npz`.

Input: a path, the target column (CSV; default the last), whether the spec wants class labels,
the test fraction and a seed. Output: a `datasets.Dataset`, split into train and test. Any
problem is a `DeriveError` naming the file, the row and the column: a ragged row, a feature
that is not a finite number, a target column that does not exist.

Class labels may be strings or integers; the classes are their sorted distinct values (as
scikit-learn's `classes_`), and label k of the Dataset is the k-th class.
"""

from __future__ import annotations

import csv
import math
import zipfile
from pathlib import Path

import numpy as np

from derive.errors import DeriveError, plain
from derive.inputs import check_file
from derive.training.datasets import Dataset, split

MAX_BYTES = 1 << 30  # a data file larger than this is refused before it is read

__all__ = ["read"]


def read(path: Path, target: str | None, classify: bool, test_size: float, seed: int) -> Dataset:
    """The data set in the CSV or `.npz` file at `path`, split with `test_size` and `seed`.

    `classify`: the target is class labels (the spec's loss or output classifies), else
    numbers to regress on.
    """
    check_file(path, "CSV or .npz file", MAX_BYTES, key="--data")
    if path.suffix.lower() == ".npz":
        if target is not None:
            raise DeriveError(f"--target: only for a CSV file; {plain(str(path))} holds X and y")
        X, raw = _read_npz(path)
        rows = np.arange(len(raw))  # a row of y is its index
        where = f"{plain(str(path))}: y"
    else:
        X, raw, rows, column = _read_csv(path, target)
        where = f"{plain(str(path))}: column {column!r}"
    if classify:
        classes, y = _labels(raw, where)
        return split(path.name, X, y, classes, test_size, seed, target=where)
    targets = _numbers(raw, rows, where).reshape(len(raw), -1)
    return split(path.name, X, targets, (), test_size, seed, target=where)


def _read_csv(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Features (rows, columns) as float64, the target column's cells as strings, the line
    number of each row, and the target column's name."""
    name = plain(str(path))
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            if not header:
                raise DeriveError(f"{name}: expected a header row of column names, found none")
            column = header[-1] if target is None else target
            if column not in header:
                known = ", ".join(repr(h) for h in header)
                raise DeriveError(f"{name}: --target: no column {column!r}; columns: {known}")
            index = header.index(column)
            features = [h for i, h in enumerate(header) if i != index]
            if not features:
                found = f"only {column!r}"
                raise DeriveError(f"{name}: expected feature columns besides the target, {found}")
            rows, labels, lines = [], [], []
            for row in reader:
                if not row:
                    continue  # a blank line
                line = reader.line_num
                if len(row) != len(header):
                    raise DeriveError(
                        f"{name}: row {line}: expected {len(header)} cells as in the header,"
                        f" found {len(row)}"
                        + (f" (no {header[len(row)]!r})" if len(row) < len(header) else "")
                    )
                cells = zip(row, header, strict=True)
                rows.append([_cell(text, name, line, h) for text, h in cells if h != column])
                labels.append(row[index].strip())
                lines.append(line)
    except UnicodeDecodeError as exc:
        found = f"byte 0x{exc.object[exc.start]:02x}"
        raise DeriveError(f"{name}: expected UTF-8 text, found {found}") from None
    except csv.Error as exc:
        raise DeriveError(f"{name}: not a readable CSV file: {exc}") from None
    except OSError as exc:
        raise DeriveError(f"{name}: not a readable file: {exc.strerror or exc}") from None
    if not rows:
        raise DeriveError(f"{name}: expected rows of data after the header, found none")
    return np.array(rows, dtype=np.float64), np.array(labels), np.array(lines), column


def _cell(text: str, name: str, line: int, column: str) -> float:
    """One feature cell as a finite float, else a DeriveError naming row and column."""
    where = f"{name}: row {line}, column {column!r}"
    try:
        value = float(text)
    except ValueError:
        raise DeriveError(f"{where}: expected a number, found {text.strip()[:40]!r}") from None
    if not math.isfinite(value):
        raise DeriveError(f"{where}: expected a finite number, found {text.strip()!r}")
    return value


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Arrays X (rows, features) and y (one label or target row per sample); never unpickles."""
    name = plain(str(path))
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("X", "y") if key not in archive.files]
            if missing:
                found = ", ".join(archive.files) or "no arrays"
                raise DeriveError(f"{name}: expected arrays X and y, found {found}")
            X, y = archive["X"], archive["y"]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DeriveError(f"{name}: not a readable .npz file: {exc}") from None
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.dtype.kind not in "biuf" or not X.size:
        found = f"shape {getattr(X, 'shape', '?')}, dtype {getattr(X, 'dtype', '?')}"
        raise DeriveError(f"{name}: X: expected a 2-D array of numbers, found {found}")
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        row, column = bad[0]
        where = f"{name}: X: row {row}, column {column}"
        raise DeriveError(f"{where}: expected a finite number, found {X[row, column]}")
    if not isinstance(y, np.ndarray) or y.ndim not in (1, 2) or len(y) != len(X):
        expected = f"one label or target row per row of X ({len(X)})"
        raise DeriveError(f"{name}: y: expected {expected}, found shape {getattr(y, 'shape', '?')}")
    return X.astype(np.float64), y


def _labels(raw: np.ndarray, where: str) -> tuple[tuple[object, ...], np.ndarray]:
    """The sorted distinct labels and each sample's class index. Numbers sort as numbers (2
    before 10; integer-valued ones are integers: "1.0" and "1" are one class), text as text."""
    if raw.ndim != 1:
        raise DeriveError(f"{where}: expected one class label per sample, found shape {raw.shape}")
    if raw.dtype.kind in "US":
        try:  # numbers written as text ("2", "2.0", "0.5") are numbers
            numbers = raw.astype(np.float64)
        except ValueError:
            numbers = None
        if numbers is not None and np.isfinite(numbers).all():
            raw = numbers
    if raw.dtype.kind in "US":
        values = raw
    elif raw.dtype.kind in "biu" or (
        raw.dtype.kind == "f" and np.isfinite(raw).all() and (raw == np.round(raw)).all()
    ):
        values = raw.astype(np.int64)  # 1.0 and 1 are one class
    elif raw.dtype.kind == "f" and np.isfinite(raw).all():
        values = raw
    else:
        raise DeriveError(f"{where}: expected class labels (integers or text), found {raw.dtype}")
    classes, y = np.unique(values, return_inverse=True)
    return tuple(classes.tolist()), y.astype(np.int64)


def _numbers(raw: np.ndarray, rows: np.ndarray, where: str) -> np.ndarray:
    """Regression targets as float64, each finite; else a DeriveError naming the first bad row
    (`rows`: each sample's row in the file)."""
    values = np.full(raw.shape, np.nan)
    for index, cell in np.ndenumerate(raw):
        try:
            values[index] = float(cell)
        except (TypeError, ValueError):
            shown = str(cell)[:40]
            raise DeriveError(
                f"{where}, row {rows[index[0]]}: expected a number to regress on (the spec's"
                f" loss and output do not classify), found {shown!r}"
            ) from None
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not finite.all():
        bad = int(np.argmin(finite))
        found = raw[bad].tolist()
        raise DeriveError(f"{where}, row {rows[bad]}: expected a finite number, found {found!r}")
    return values
