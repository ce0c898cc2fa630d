"""Writing large tables as CSV or Parquet, a slice of rows at a time.

The per-shopper and per-order tables of a large run (``customers``, ``orders``, ``paths``,
``touches``) hold millions of rows. Converting such a table for writing all at once costs several
times its own memory (strings of dates and ids, Arrow copies), so :func:`write_table` converts and
writes :data:`CHUNK_ROWS` rows at a time: the CSV is byte for byte the one ``DataFrame.to_csv``
writes, and the Parquet file has one row group per slice and reads back as the same table.

:func:`default_table_format` is the rule for the default format: CSV up to
:data:`PARQUET_ABOVE_AGENTS` agents, Parquet above (docs/scale.md).

The lowest layer: imports nothing else of the toolkit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

__all__ = [
    "CHUNK_ROWS",
    "PARQUET_ABOVE_AGENTS",
    "TABLE_FORMATS",
    "default_table_format",
    "lazy_chunks",
    "write_table",
    "write_table_chunks",
]

TABLE_FORMATS = ("csv", "parquet")
"""File types of the large tables (``--format``)."""

PARQUET_ABOVE_AGENTS = 1_000_000
"""Runs with more agents than this write their large tables as Parquet by default (agents).

At 1M agents and a year ``customers.csv`` and ``orders.csv`` take about 30 s to write and 140 MB;
Parquet takes about 5 s and a third of the space, and reads back with its column types."""

CHUNK_ROWS = 250_000
"""Rows converted and written at a time (rows)."""


def default_table_format(agents: int) -> str:
    """The large tables' file type when none is asked for: ``"parquet"`` above 1M agents, else ``"csv"``."""
    return "parquet" if agents > PARQUET_ABOVE_AGENTS else "csv"


def write_table(frame: pd.DataFrame, path: Path, index: bool = True, rows: int = CHUNK_ROWS) -> None:
    """Write a table as CSV or Parquet (by ``path``'s suffix), ``rows`` rows at a time.

    Parameters
    ----------
    frame
        The table.
    path
        ``.parquet`` writes Parquet, anything else CSV (as ``frame.to_csv(path, index=index)``).
    index
        Write the index as a column (named by the index's name).
    rows
        Rows per slice (rows).
    """
    chunks = (frame.iloc[start : start + rows] for start in range(0, max(len(frame), 1), rows))
    write_table_chunks(chunks, path, index=index)


def write_table_chunks(chunks: Iterable[pd.DataFrame], path: Path, index: bool = True) -> None:
    """Write consecutive slices of one table as one CSV or Parquet file (by ``path``'s suffix).

    Every slice has the same columns and types; the first may be empty (an empty table).
    """
    if path.suffix.lower() == ".parquet":
        _write_parquet(chunks, path, index)
        return
    with open(path, "w", encoding="utf-8", newline="") as handle:
        for number, chunk in enumerate(chunks):
            chunk.to_csv(handle, index=index, header=number == 0)


def _write_parquet(chunks: Iterable[pd.DataFrame], path: Path, index: bool) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer: pq.ParquetWriter | None = None
    try:
        for chunk in chunks:
            # A slice's RangeIndex would be stored as metadata of the first slice only: keep the
            # index as a column so the file reads back with every row's own index.
            table = pa.Table.from_pandas(chunk, preserve_index=True if index else False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)  # type: ignore[no-untyped-call]
            writer.write_table(table)  # type: ignore[no-untyped-call]
    finally:
        if writer is not None:
            writer.close()  # type: ignore[no-untyped-call]


def lazy_chunks(
    count: int, build: Callable[[int, int], pd.DataFrame], rows: int = CHUNK_ROWS
) -> Iterable[pd.DataFrame]:
    """Slices ``build(start, stop)`` of a table of ``count`` rows, built one at a time (at least one)."""
    for start in range(0, max(count, 1), rows):
        yield build(start, min(start + rows, count))
