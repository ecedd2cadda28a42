"""Time series and synthetic long-memory tasks for the forecasting page.

* :func:`load_series` — real series that ship offline with the installed packages:
  ``statsmodels.datasets`` ``co2`` (weekly Mauna Loa CO2, 1958-2001, ppm; its 59 missing weeks
  are filled by linear interpolation and the note says so), ``sunspots`` (yearly sunspot
  activity 1700-2008), ``nile`` (yearly Nile flow at Aswan 1871-1970, 10^8 m^3), ``elnino``
  (monthly Pacific sea-surface temperature 1950-2010, deg C); ``vega_datasets.local_data``
  ``seattle-temps`` (hourly temperature 2010, deg F) and ``seattle-weather`` (daily maximum
  temperature 2012-2015, deg C); and the user's CSV (:func:`parse_series_csv`).
* :func:`adding_problem` and :func:`copy_memory` — the long-memory benchmarks of Hochreiter &
  Schmidhuber (1997) and Arjovsky, Shah & Bengio, "Unitary Evolution Recurrent Neural
  Networks" (ICML 2016).
"""

from __future__ import annotations

import csv
import functools
import io
import math
from dataclasses import dataclass

import numpy as np
import torch

from core.checks import check_choice

__all__ = ["Series", "SERIES", "load_series", "parse_series_csv", "adding_problem",
           "copy_memory", "MIN_POINTS", "MAX_POINTS", "MAX_CSV_BYTES"]

MIN_POINTS, MAX_POINTS = 60, 20_000
MAX_CSV_BYTES = 2_000_000


@dataclass(frozen=True)
class Series:
    """One univariate series.

    Attributes:
        values: float64 (N,) observations in ``unit``.
        times: (N,) labels of the observations (ISO dates, years, or row numbers) as strings.
        name, title, unit: key, display title and unit.
        period: the season in steps (seasonal naive predicts ``values[t - period]``); 1 when
            the series has no season (seasonal naive is then last value).
        period_label: the season in words, e.g. "52 weeks".
        note: one line the page shows (missing values filled, fallback), or None.
    """

    values: np.ndarray
    times: np.ndarray
    name: str
    title: str
    unit: str
    period: int
    period_label: str
    note: str | None = None


# name -> (title, unit, period, period label)
SERIES = {
    "co2": ("Mauna Loa CO2, weekly 1958-2001", "ppm", 52, "52 weeks"),
    "sunspots": ("Sunspot activity, yearly 1700-2008", "sunspot number", 11, "11 years"),
    "nile": ("Nile flow at Aswan, yearly 1871-1970", "10^8 m^3", 1, "none (no season)"),
    "elnino": ("El Nino sea-surface temperature, monthly 1950-2010", "deg C", 12, "12 months"),
    "seattle_temps": ("Seattle temperature, hourly 2010", "deg F", 24, "24 hours"),
    "seattle_weather": ("Seattle daily maximum temperature 2012-2015", "deg C", 365, "365 days"),
    "csv": ("Your CSV", "", 1, "none"),
}


def _as_series(name: str, values: np.ndarray, times: np.ndarray, note: str | None = None,
               period: int | None = None) -> Series:
    title, unit, p, label = SERIES[name]
    return Series(np.array(values, dtype=np.float64), np.asarray(times).astype(str), name,
                  title, unit, p if period is None else period, label, note)


@functools.lru_cache(maxsize=8)
def _load_packaged(name: str) -> Series:
    from statsmodels import datasets as sd

    if name == "co2":
        df = sd.co2.load_pandas().data
        missing = int(df["co2"].isna().sum())
        filled = df["co2"].interpolate(method="linear", limit_direction="both")
        return _as_series(name, filled.to_numpy(), df.index.strftime("%Y-%m-%d").to_numpy(),
                          f"co2: {missing} missing weeks were filled by linear interpolation "
                          "between their neighbours.")
    if name == "sunspots":
        df = sd.sunspots.load_pandas().data
        return _as_series(name, df["SUNACTIVITY"].to_numpy(), df["YEAR"].astype(int).to_numpy())
    if name == "nile":
        df = sd.nile.load_pandas().data
        return _as_series(name, df["volume"].to_numpy(), df["year"].astype(int).to_numpy())
    if name == "elnino":
        df = sd.elnino.load_pandas().data
        months = df.columns[1:]
        vals = df[months].to_numpy().reshape(-1)
        times = [f"{int(y)}-{m + 1:02d}" for y in df["YEAR"] for m in range(len(months))]
        return _as_series(name, vals, np.array(times))
    from vega_datasets import local_data

    if name == "seattle_temps":
        df = local_data.seattle_temps()
        return _as_series(name, df["temp"].to_numpy(),
                          df["date"].dt.strftime("%Y-%m-%d %H:00").to_numpy())
    df = local_data.seattle_weather()
    return _as_series(name, df["temp_max"].to_numpy(), df["date"].dt.strftime("%Y-%m-%d").to_numpy())


def load_series(name: str, csv_text: str = "") -> Series:
    """The series ``name`` (a key of :data:`SERIES`); ``"csv"`` parses ``csv_text``.

    Raises:
        ValueError: for an unknown name or a CSV that :func:`parse_series_csv` rejects.
    """
    check_choice("series", name, SERIES)
    if name == "csv":
        values, times = parse_series_csv(csv_text)
        return _as_series("csv", values, times)
    return _load_packaged(name)


def _number(cell: str) -> float | None:
    try:
        return float(cell.strip())
    except ValueError:
        return None


def _rows(text: str) -> list[list[str]]:
    if not text or not text.strip():
        raise ValueError("the CSV is empty: upload one value per row (optionally time,value)")
    if len(text) > MAX_CSV_BYTES:
        raise ValueError(f"the CSV is larger than {MAX_CSV_BYTES // 1_000_000} MB")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = [r for r in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in r)]
    widths = {len(r) for r in rows}
    if widths - {1, 2}:
        raise ValueError(f"rows have {max(widths)} columns; use one value column, or a time "
                         "column and a value column")
    if len(widths) > 1:
        raise ValueError("some rows have one column and others two; use the same layout on "
                         "every row")
    return rows


def parse_series_csv(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse a user's series: one value per row, or ``time,value`` rows; a header row is
    skipped. Rows are taken in file order (the time column is a label, not sorted).

    Returns:
        ``(values float64 (N,), times str (N,))``, times = row numbers when there is no time
        column.

    Raises:
        ValueError: a sentence a user can act on: empty, too large, wrong number of columns,
        which row is not numeric or not finite, fewer than :data:`MIN_POINTS` or more than
        :data:`MAX_POINTS` values, or a constant series.
    """
    rows = _rows(text)
    values, times = [], []
    for i, r in enumerate(rows, start=1):
        v = _number(r[-1])
        if v is None:
            if i == 1:
                continue  # a header row
            raise ValueError(f"row {i} has a value that is not a number: {r[-1].strip()[:40]!r}")
        if not math.isfinite(v):
            raise ValueError(f"row {i} has a value that is not finite ({r[-1].strip()[:20]})")
        values.append(v)
        times.append(r[0].strip()[:40] if len(r) == 2 else str(len(values)))
    if len(values) < MIN_POINTS:
        raise ValueError(f"the CSV has {len(values)} values; a forecaster needs at least "
                         f"{MIN_POINTS} to split into train, validation and test")
    if len(values) > MAX_POINTS:
        raise ValueError(f"the CSV has {len(values):,} values; use at most {MAX_POINTS:,}")
    arr = np.asarray(values, dtype=np.float64)
    if np.ptp(arr) == 0 or not math.isfinite(float(np.ptp(arr))):
        raise ValueError("the values are all equal (or span more than a float can hold): "
                         "nothing to forecast")
    return arr, np.asarray(times)


def adding_problem(n: int, length: int, generator: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997, as in Arjovsky et al. 2016).

    Each sequence has ``length`` steps of two channels: a value uniform in [0, 1] and a marker
    that is 1 at two positions (one in the first half, one in the second) and 0 elsewhere. The
    target is the sum of the two marked values. Predicting 1 always gives MSE 1/6 = 0.167.

    Returns:
        ``x`` (n, length, 2) float32 and ``y`` (n,) float32.
    """
    values = torch.rand(n, length, generator=generator)
    half = max(1, length // 2)
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, length, (n,), generator=generator)
    marks = torch.zeros(n, length)
    rows = torch.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]
    return torch.stack([values, marks], 2), y


def copy_memory(n: int, length: int, generator: torch.Generator, n_symbols: int = 8,
                n_copy: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """The copy-memory task (Arjovsky et al. 2016, Sec. 4.1, with ``n_copy`` symbols).

    Input: ``n_copy`` random symbols from 1..n_symbols, ``length`` blanks (0), a delimiter
    (n_symbols + 1), then ``n_copy - 1`` blanks; the model must output the ``n_copy`` symbols
    over the last ``n_copy`` steps. Guessing gives cross-entropy ``log(n_symbols)``.

    Returns:
        ``x`` (n, length + 2 n_copy, n_symbols + 2) one-hot float32 and ``y`` (n, n_copy)
        int64 in 0..n_symbols-1 (symbol - 1).
    """
    symbols = torch.randint(1, n_symbols + 1, (n, n_copy), generator=generator)
    total = length + 2 * n_copy
    seq = torch.zeros(n, total, dtype=torch.long)
    seq[:, :n_copy] = symbols
    seq[:, n_copy + length] = n_symbols + 1
    x = torch.nn.functional.one_hot(seq, n_symbols + 2).float()
    return x, symbols - 1
