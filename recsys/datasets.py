"""Loaders that turn public datasets into recsys events.

Each loader returns ``(events, items)``: events with the columns of
:func:`recsys.data.validate_events`, and item metadata with an ``item_id`` column
(or None), ready for :meth:`recsys.data.Interactions.from_events`.
"""

from __future__ import annotations

import gzip
import json
import logging
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.exceptions import DataValidationError

__all__ = ["NON_PRODUCT_STOCK_CODES", "OTTO_EVENTS", "load_online_retail", "load_otto"]

logger = logging.getLogger(__name__)

#: Online Retail stock codes that are fees, postage or manual adjustments, not
#: products. POST alone is on about 1,200 invoices, so left in it would be the
#: "also bought" of nearly everything.
NON_PRODUCT_STOCK_CODES = frozenset(
    {"AMAZONFEE", "B", "BANK CHARGES", "C2", "CRUK", "D", "DOT", "M", "m", "PADS", "POST", "S"}
)

#: OTTO event types and the recsys event type each becomes.
OTTO_EVENTS = {"clicks": "view", "carts": "cart", "orders": "purchase"}

_ONLINE_RETAIL_COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "CustomerID")


def _bundled(*parts: str) -> Path:
    return Path(__file__).resolve().parents[1].joinpath("data", *parts)


def load_online_retail(
    path: str | PathLike[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the UCI Online Retail transactions as purchase events.

    Rules, in order:

    1. rows without a ``CustomerID`` are dropped: they cannot be tied to a user;
    2. cancellations (``InvoiceNo`` starting with ``"C"``) and other rows with
       ``Quantity <= 0`` are dropped. The original purchase line stays, because a
       cancelled order still shows what the customer chose;
    3. fee, postage and adjustment codes (:data:`NON_PRODUCT_STOCK_CODES`) are
       dropped;
    4. every remaining invoice line becomes one ``purchase`` event:
       ``user_id`` = ``CustomerID`` as int, ``item_id`` = ``StockCode`` as str
       (exactly as written, case kept), ``timestamp`` = ``InvoiceDate``. The file
       gives no time zone; the UK shop's times are read as UTC.

    Quantities are not used as weights, since wholesale orders of hundreds would
    drown out everyone else; repeated purchases count once unless the model sets
    ``count_repeats``.

    Parameters
    ----------
    path : path, optional
        The CSV (gzip allowed). Defaults to ``data/online-retail/online_retail.csv.gz``
        in a source checkout of recsys.

    Returns
    -------
    events : DataFrame
        Columns ``user_id``, ``item_id``, ``event``, ``timestamp``, ``invoice_no``.
    items : DataFrame
        ``item_id`` and ``description``: the most frequent description of each code
        among the kept rows (ties go to the alphabetically first), whitespace trimmed.
    """
    source = Path(path) if path is not None else _bundled("online-retail", "online_retail.csv.gz")
    if not source.is_file():
        raise DataValidationError(
            f"Online Retail file not found: {str(source)!r}; pass path= to the CSV "
            f"(the source repository bundles it under data/online-retail/)"
        )
    raw = pd.read_csv(
        source,
        dtype={"InvoiceNo": str, "StockCode": str, "Description": str, "CustomerID": str},
        keep_default_na=False,
        na_values={"CustomerID": [""], "Description": [""]},
    )
    missing = [column for column in _ONLINE_RETAIL_COLUMNS if column not in raw.columns]
    if missing:
        raise DataValidationError(f"{str(source)!r} lacks the Online Retail column(s) {missing}")

    has_customer = raw["CustomerID"].notna()
    is_sale = ~raw["InvoiceNo"].str.startswith("C") & (raw["Quantity"] > 0)
    is_product = ~raw["StockCode"].isin(NON_PRODUCT_STOCK_CODES)
    kept = raw[has_customer & is_sale & is_product]
    logger.info(
        "Online Retail: kept %s of %s rows (%s without customer, %s cancelled or not positive, "
        "%s fee or postage codes)",
        f"{len(kept):,}",
        f"{len(raw):,}",
        f"{int((~has_customer).sum()):,}",
        f"{int((has_customer & ~is_sale).sum()):,}",
        f"{int((has_customer & is_sale & ~is_product).sum()):,}",
    )

    # CustomerID is written as a float ("17850.0"); every value is integral.
    customer = pd.to_numeric(kept["CustomerID"]).to_numpy()
    events = pd.DataFrame(
        {
            "user_id": customer.astype(np.int64),
            "item_id": kept["StockCode"].to_numpy(dtype=object),
            "event": "purchase",
            "timestamp": pd.to_datetime(kept["InvoiceDate"], format="%Y-%m-%d %H:%M:%S").dt.tz_localize(
                "UTC"
            ),
            "invoice_no": kept["InvoiceNo"].to_numpy(dtype=object),
        }
    ).reset_index(drop=True)
    return events, _online_retail_items(kept)


def _online_retail_items(rows: pd.DataFrame) -> pd.DataFrame:
    described = rows.loc[rows["Description"].notna(), ["StockCode", "Description"]].copy()
    described["Description"] = described["Description"].str.strip()
    counts = described.value_counts(["StockCode", "Description"]).reset_index(name="count")
    counts = counts.sort_values(["StockCode", "count", "Description"], ascending=[True, False, True])
    best = counts.drop_duplicates("StockCode", keep="first")
    return pd.DataFrame(
        {
            "item_id": best["StockCode"].to_numpy(dtype=object),
            "description": best["Description"].to_numpy(dtype=object),
        }
    ).reset_index(drop=True)


def load_otto(path: str | PathLike[str]) -> pd.DataFrame:
    """Read OTTO-style shop sessions (clicks, carts, orders) as events.

    Accepts the original JSON-lines format, one session per line
    (``{"session": int, "events": [{"aid": int, "ts": int, "type": str}]}``,
    gzip allowed), or the flat CSV ``session,aid,ts,type``.

    Each session is a user (``user_id`` = ``session``), each article an item
    (``item_id`` = ``aid``), both ints; ``ts`` (Unix milliseconds) becomes a UTC
    ``timestamp``; types map through :data:`OTTO_EVENTS` (clicks are views).

    Raises
    ------
    DataValidationError
        If the file is missing, a line is not valid JSON, or an event type is not
        one of clicks, carts, orders.
    """
    source = Path(path)
    if not source.is_file():
        raise DataValidationError(f"OTTO file not found: {str(source)!r}")
    name = source.name.removesuffix(".gz")
    if name.endswith(".csv"):
        flat = pd.read_csv(source, dtype={"session": np.int64, "aid": np.int64, "ts": np.int64, "type": str})
    else:
        flat = _read_otto_jsonl(source)

    unknown = sorted(set(flat["type"]) - set(OTTO_EVENTS))
    if unknown:
        raise DataValidationError(
            f"column 'type' has event types {unknown}; OTTO events are {sorted(OTTO_EVENTS)}"
        )
    return pd.DataFrame(
        {
            "user_id": flat["session"].to_numpy(dtype=np.int64),
            "item_id": flat["aid"].to_numpy(dtype=np.int64),
            "event": flat["type"].map(OTTO_EVENTS).to_numpy(dtype=object),
            "timestamp": pd.to_datetime(flat["ts"].to_numpy(dtype=np.int64), unit="ms", utc=True),
        }
    )


def _read_otto_jsonl(source: Path) -> pd.DataFrame:
    opener = gzip.open if source.suffix == ".gz" else open
    rows: list[tuple[int, int, int, str]] = []
    with opener(source, "rt", encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                session = json.loads(line)
                rows.extend(
                    (int(session["session"]), int(event["aid"]), int(event["ts"]), str(event["type"]))
                    for event in session["events"]
                )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise DataValidationError(
                    f"{str(source)!r} line {line_number} is not an OTTO session ({error!r}); expected "
                    f'{{"session": int, "events": [{{"aid": int, "ts": int, "type": str}}]}}'
                ) from error
    return pd.DataFrame(rows, columns=["session", "aid", "ts", "type"])
