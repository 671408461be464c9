"""What every dataset reader shares: the prepare report, the tables a reader returns, and
helpers to read raw CSV files and clean their values.

A reader (:mod:`workbench.data.movies`, :mod:`workbench.data.anime`, :mod:`workbench.data.toy`)
imports only this module; :mod:`workbench.data.prepare` finds the reader by the dataset's
``reader`` (``module:function``) and runs the common steps, so no reader imports
``prepare`` and ``prepare`` imports no reader (no import cycle).
"""

from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

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


def read_source_csv(path: Path, report: PrepareReport, delimiter: str = ",",
                    encoding: str = "utf-8") -> pd.DataFrame:
    """Read a raw CSV as strings; rows with too few or too many fields are skipped and counted.

    Uses the standard library's CSV reader (pandas pads a short row with nulls silently).
    Empty cells become null; every other value stays the exact source string, so that the
    readers decide (and count) what a placeholder or malformed value is. CRLF and LF line
    endings, quoted fields with embedded newlines, and a missing final newline are all fine.
    """
    if not path.is_file():
        raise PrepareError(
            f"raw file {path} is missing; run `workbench data fetch {report.dataset}` first"
        )
    rows: list[list[str]] = []
    bad: list[str] = []
    try:
        with open(path, encoding=encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
            header = next(reader, None)
            if not header:
                raise PrepareError(f"{path.name} is empty (no header row)")
            for row in reader:
                if len(row) == len(header):
                    rows.append(row)
                elif row:
                    bad.append(f"line {reader.line_num}: {len(row)} fields, expected "
                               f"{len(header)}: {','.join(row)[:60]}")
    except (csv.Error, UnicodeDecodeError, LookupError) as exc:
        raise PrepareError(f"cannot parse {path.name}: {exc}") from None
    report.inputs[path.name] = len(rows) + len(bad)
    report.record(f"{path.name}: malformed row (wrong number of fields)", "skipped", len(bad),
                  bad)
    frame = pd.DataFrame(rows, columns=header, dtype="string")
    return frame.mask(frame == "")


def require_columns(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    """Raise :class:`PrepareError` naming the columns a source file lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PrepareError(f"{source} lacks column(s) {missing}; found {list(frame.columns)}")


def parse_numbers(
    values: pd.Series, report: PrepareReport, what: str, placeholders: tuple[str, ...] = (),
) -> pd.Series:
    """Parse strings to float; placeholders and malformed numbers become null and are counted."""
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
    """Split delimited strings into lists of stripped, non-empty, de-duplicated names."""

    def one(value: object) -> list[str]:
        if not isinstance(value, str) or value.strip() in placeholders:
            return []
        parts = (p.strip() for p in value.split(sep))
        return list(dict.fromkeys(p for p in parts if p and p not in placeholders))

    return pd.Series([one(v) for v in values], index=values.index, dtype=object)


def as_list(value: object) -> object:
    """Null -> ``[]``; tuple or array -> list; anything else unchanged (the schema judges it)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, tuple | np.ndarray):
        return list(value)
    return value
