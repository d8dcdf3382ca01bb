"""Read a user's table (CSV, TSV or parquet, chosen by extension) with clear errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..errors import BadInputError

READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": lambda p: pd.read_csv(p),
    ".tsv": lambda p: pd.read_csv(p, sep="\t"),
    ".tab": lambda p: pd.read_csv(p, sep="\t"),
    ".parquet": lambda p: pd.read_parquet(p),
    ".pq": lambda p: pd.read_parquet(p),
}
"""Reader per file extension (lower case)."""


def read_table(path: str | Path) -> pd.DataFrame:
    """The table at ``path`` as a DataFrame; raises :class:`BadInputError` if missing, unreadable or empty."""
    p = Path(path)
    reader = READERS.get(p.suffix.lower())
    if reader is None:
        raise BadInputError(
            f"table {str(p)!r} has an unsupported extension {p.suffix!r}; save it as "
            f"{', '.join(sorted(READERS))}."
        )
    if not p.is_file():
        raise BadInputError(f"table {str(p)!r} does not exist; pass the path of a {p.suffix} file.")
    try:
        df = reader(p)
    except Exception as exc:  # pandas/pyarrow raise many types for malformed files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(
            f"table {str(p)!r} could not be read as {p.suffix} ({first}); check the file's format."
        ) from None
    if df.empty:
        raise BadInputError(f"table {str(p)!r} has no rows; it needs one row per model.")
    return df
