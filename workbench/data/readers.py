"""What every dataset reader shares: the prepare report, the tables a reader returns, and
helpers to read raw CSV files and clean their values.

A reader (:mod:`workbench.data.movies`, :mod:`workbench.data.anime`, :mod:`workbench.data.toy`)
imports only this module; :mod:`workbench.data.prepare` finds the reader by the dataset's
``reader`` (``module:function``) and runs the common steps, so no reader imports
``prepare`` and ``prepare`` imports no reader (no import cycle).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from workbench import WorkbenchError


class PrepareError(WorkbenchError):
    """A dataset cannot be prepared (missing raw file, unreadable source)."""


@dataclass
class Issue:
    """A counted data problem and what prepare did about it."""

    action: str
    """``nulled`` (the value became null), ``skipped`` (the row was left out) or ``merged``."""
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class PrepareReport:
    """What went in, what came out, and every value or row that was nulled or skipped."""

    dataset: str
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    inputs: dict[str, int] = field(default_factory=dict)
    """Data rows read per raw file."""
    issues: dict[str, Issue] = field(default_factory=dict)
    outputs: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def record(self, reason: str, action: str, count: int, examples: object = ()) -> None:
        """Count ``count`` occurrences of ``reason`` (no-op for zero)."""
        if count <= 0:
            return
        issue = self.issues.setdefault(reason, Issue(action))
        issue.count += int(count)
        for ex in list(examples)[: max(0, 3 - len(issue.examples))]:
            issue.examples.append(str(ex)[:120])

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PrepareReport:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["issues"] = {k: Issue(**v) for k, v in data.get("issues", {}).items()}
        return cls(**data)


@dataclass
class PreparedTables:
    """The two tables a dataset reader returns, before the common steps."""

    items: pd.DataFrame
    interactions: pd.DataFrame


# --------------------------------------------------------------------------------------------
# Helpers for the dataset readers


GZIP_MAGIC = b"\x1f\x8b"


def open_source(path: Path) -> io.BufferedIOBase:
    """A raw file opened for reading bytes, gzip-decompressed when it is gzip (by its
    magic bytes, whatever its name)."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == GZIP_MAGIC else open(path, "rb")


_UNIT_SEPARATOR = "\x1f"
"""The one-character delimiter a multi-character one (``::``) is rewritten to."""


def _single_delimiter(path: Path, delimiter: str, encoding: str) -> io.BytesIO:
    """A file with a multi-character delimiter, in memory as UTF-8 with the delimiter
    rewritten to :data:`_UNIT_SEPARATOR` (pyarrow's reader takes one character)."""
    with open_source(path) as fh:
        text = fh.read().decode(_codec(encoding))
    if _UNIT_SEPARATOR in text:
        raise PrepareError(f"{path.name} holds the control character U+001F, so its "
                           f"delimiter {delimiter!r} cannot be read; remove it")
    return io.BytesIO(text.replace(delimiter, _UNIT_SEPARATOR).encode("utf-8"))


def read_source_csv(path: Path, report: PrepareReport, delimiter: str = ",",
                    encoding: str = "utf-8", names: list[str] | None = None) -> pd.DataFrame:
    """Read a raw CSV as strings; rows with too few or too many fields are skipped and counted.

    Read by pyarrow's multi-threaded CSV reader (no per-row Python; pandas' reader pads a
    short row with nulls silently). Empty cells become null; every other value stays the
    exact source string, so that the readers decide (and count) what a placeholder or
    malformed value is. CRLF and LF line endings, quoted fields with embedded newlines, a
    UTF-8 byte order mark and a missing final newline are all fine; blank lines are skipped.
    A gzip file is decompressed; ``names`` are the columns of a file without a header row;
    a multi-character ``delimiter`` (``::``) means no quoting (the file is read into memory).
    """
    if not path.is_file():
        raise PrepareError(
            f"raw file {path} is missing; run `workbench data fetch {report.dataset}` first"
        )
    if names is None:
        names, skip_rows = _csv_header(path, delimiter, encoding), 1
    else:
        skip_rows = 0
    bad: list[str] = []

    def skip(row) -> str:
        line = f"line {row.number}: " if row.number and row.number > 0 else ""
        bad.append(f"{line}{row.actual_columns} fields, expected {row.expected_columns}: "
                   f"{(row.text or '')[:60]}")
        return "skip"

    quoting = len(delimiter) == 1
    try:
        source = (open_source(path) if quoting
                  else _single_delimiter(path, delimiter, encoding))
        with source:
            table = pa_csv.read_csv(
                source,
                read_options=pa_csv.ReadOptions(
                    encoding=encoding if quoting else "utf-8", column_names=names,
                    skip_rows=skip_rows, block_size=1 << 24),
                parse_options=pa_csv.ParseOptions(
                    delimiter=delimiter if quoting else _UNIT_SEPARATOR,
                    quote_char='"' if quoting else False, newlines_in_values=quoting,
                    invalid_row_handler=skip),
                convert_options=pa_csv.ConvertOptions(
                    column_types={name: pa.string() for name in names}, null_values=[""],
                    strings_can_be_null=True, quoted_strings_can_be_null=True),
            )
    except (pa.ArrowInvalid, UnicodeDecodeError, LookupError, OSError, EOFError) as exc:
        raise PrepareError(f"cannot parse {path.name}: {exc}") from None
    report.inputs[path.name] = table.num_rows + len(bad)
    report.record(f"{path.name}: malformed row (wrong number of fields)", "skipped", len(bad),
                  bad)
    return table.to_pandas(types_mapper=_STRINGS.get)


_STRINGS = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}


HEADER_BYTES = 1 << 20
"""How much of a CSV file is read for its header row (1 MB): a file with no line end in it
(``/dev/zero``, a binary file) is refused instead of read whole."""


@dataclass(frozen=True)
class CsvHead:
    """A CSV file's header row and whether any data row follows it."""

    names: list[str]
    has_rows: bool


def _codec(encoding: str) -> str:
    """``utf-8-sig`` for UTF-8 (a byte order mark, as Excel's "CSV UTF-8" writes, dropped)."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def csv_head(path: Path, delimiter: str = ",", encoding: str = "utf-8",
             has_header: bool = True) -> CsvHead:
    """The header row of the CSV file ``path`` (names stripped, a byte order mark dropped),
    read from at most its first :data:`HEADER_BYTES` (decompressed, for a gzip file); a
    :class:`PrepareError` names the file, the line and the fix for an empty file, a header
    with no line end in the first 1 MB, a field over the csv module's limit (a quote never
    closed) or any other CSV error. Without ``has_header``, the first line's fields are
    returned and ``has_rows`` says whether there is a line at all. An unknown ``encoding``
    (LookupError) or undecodable bytes (UnicodeDecodeError) are left to the caller, which
    knows the key that set them."""
    decoder = codecs.getincrementaldecoder(_codec(encoding))()
    try:
        with open_source(path) as fh:
            chunk = fh.read(HEADER_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise PrepareError(f"{path.name}: cannot read it ({exc}); give an intact file"
                           ) from None
    cut = len(chunk) > HEADER_BYTES
    text = decoder.decode(chunk[:HEADER_BYTES], final=not cut)
    if cut and "\n" not in text and "\r" not in text:
        raise PrepareError(f"{path.name}: no line end in the first {HEADER_BYTES >> 20} MB, so "
                           f"no header row (is it a CSV file?); give a CSV file whose first "
                           f"line names the columns")
    if len(delimiter) > 1:  # no quoting: split the first line
        first, _, rest = text.lstrip("\r\n").partition("\n")
        fields = [name.strip() for name in first.rstrip("\r").split(delimiter)]
        if not has_header:
            return CsvHead(fields, bool(first.strip()))
        if not first.strip():
            raise PrepareError(f"{path.name} is empty (no header row); give a file whose "
                               f"first line names the columns")
        return CsvHead(fields, cut or bool(rest.strip()))
    lines = io.StringIO(text, newline="")
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise PrepareError(
                f"{path.name}, line 1 (the header): a field longer than "
                f"{csv.field_size_limit():,} characters (a quote that is never closed?); "
                f"fix the file's first line") from None
        raise PrepareError(f"{path.name}, line {reader.line_num}: {exc}; fix the file (is it "
                           f"a CSV file?)") from None
    rest = lines.read()
    if cut and not rest:
        raise PrepareError(f"{path.name}: the header row does not end in the first "
                           f"{HEADER_BYTES >> 20} MB (a quote that is never closed?); fix the "
                           f"file's first line")
    if not has_header:
        return CsvHead([name.strip() for name in header or []], header is not None)
    if header is None:
        raise PrepareError(f"{path.name} is empty (no header row); give a CSV file whose "
                           f"first line names the columns")
    if not header:
        raise PrepareError(f"{path.name}, line 1 is blank; the first line must name the "
                           f"columns")
    return CsvHead([name.strip() for name in header], cut or bool(rest.strip()))


def _csv_header(path: Path, delimiter: str, encoding: str) -> list[str]:
    """The first row of a CSV file (:func:`csv_head`, decoding errors as a PrepareError)."""
    try:
        return csv_head(path, delimiter, encoding).names
    except (UnicodeDecodeError, LookupError) as exc:
        raise PrepareError(f"cannot read {path.name} as {encoding!r}: {exc}") from None


def read_source_parquet(path: Path, report: PrepareReport,
                        columns: list[str] | None = None) -> pd.DataFrame:
    """Read a raw Parquet file (the given ``columns``; all by default) with its own types:
    strings as pandas strings (empty ones null, as in a CSV), numbers as numbers, list
    columns as arrays."""
    if not path.is_file():
        raise PrepareError(
            f"raw file {path} is missing; run `workbench data fetch {report.dataset}` first"
        )
    try:
        table = pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise PrepareError(f"cannot read {path.name} as Parquet: {exc}") from None
    report.inputs[path.name] = table.num_rows
    frame = table.to_pandas(types_mapper=_STRINGS.get)
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.StringDtype):
            frame[name] = frame[name].mask(frame[name] == "")
    return frame


def require_columns(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    """Raise :class:`PrepareError` naming the columns a source file lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PrepareError(f"{source} lacks column(s) {missing}; found {list(frame.columns)}")


def parse_numbers(
    values: pd.Series, report: PrepareReport, what: str, placeholders: tuple[str, ...] = (),
) -> pd.Series:
    """Parse strings to float; placeholders and malformed numbers become null and are counted.
    A column that is numeric already (Parquet) is taken as it is."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    stripped = values.str.strip()
    is_placeholder = stripped.isin(placeholders)
    report.record(f"{what}: placeholder {'/'.join(placeholders)}", "nulled",
                  int(is_placeholder.sum()))
    candidates = stripped.mask(is_placeholder)
    numbers = pd.to_numeric(candidates, errors="coerce")
    malformed = candidates.notna() & numbers.isna()
    report.record(f"{what}: malformed number", "nulled", int(malformed.sum()),
                  candidates[malformed].head(3))
    return numbers.astype("float64")


def null_where(values: pd.Series, mask: pd.Series, report: PrepareReport, reason: str) -> pd.Series:
    """Null ``values`` where ``mask`` holds (and was not null already), counting them."""
    mask = mask.fillna(False).astype(bool) & values.notna()
    report.record(reason, "nulled", int(mask.sum()), values[mask].head(3))
    return values.mask(mask)


_SPACES = re.compile(r"\s+")


def clean_text(values: pd.Series) -> pd.Series:
    """Collapse runs of whitespace (CR, LF, tabs) and strip; empty becomes null."""
    out = values.astype("string").str.replace(_SPACES, " ", regex=True).str.strip()
    return out.mask(out.str.len() == 0)


def split_list(values: pd.Series, sep: str, placeholders: tuple[str, ...] = ()) -> pd.Series:
    """Split delimited strings (or take lists, from a Parquet list column) into lists of
    stripped, non-empty, de-duplicated names; vectorised with pyarrow."""
    array = pa.array(values.astype(object).where(values.notna(), None), from_pandas=True)
    if pa.types.is_null(array.type):
        return pd.Series([[] for _ in range(len(values))], index=values.index, dtype=object)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        whole = pc.utf8_trim_whitespace(array)
        if placeholders:
            array = pc.if_else(pc.is_in(whole, pa.array(placeholders, array.type)),
                               pa.scalar(None, array.type), array)
        lists = pc.split_pattern(array, sep)
    elif pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        lists = array
    else:
        raise PrepareError(f"{values.name}: expected delimited text or a list column, found "
                           f"{array.type}")
    parent = pc.list_parent_indices(lists).to_numpy()
    parts = pd.Series(pc.utf8_trim_whitespace(pc.cast(pc.list_flatten(lists), pa.string()))
                      .to_pandas(types_mapper=_STRINGS.get))
    keep = parts.notna() & (parts.str.len() > 0) & ~parts.isin(placeholders)
    keep &= ~pd.DataFrame({"row": parent, "part": parts}).duplicated()
    counts = np.bincount(parent[keep.to_numpy()], minlength=len(values))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    out = pa.LargeListArray.from_arrays(offsets, pa.array(parts[keep].to_numpy(dtype=object),
                                                          type=pa.string()))
    return pd.Series(out.to_pylist(), index=values.index, dtype=object)


def as_list(value: object) -> object:
    """Null -> ``[]``; tuple or array -> list; anything else unchanged (the schema judges it)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, tuple | np.ndarray):
        return list(value)
    return value
