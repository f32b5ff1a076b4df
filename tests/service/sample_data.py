"""Events of the two small models that the service tests serve.

The tests compute their expected results by hand from these baskets. Every event
is a purchase (weight 5), so the cosine similarity of two items is
``buyers of both / sqrt(buyers of one * buyers of the other)``, and an item's
popularity is 5 times its number of buyers.

Retail model, str ids in code point order "bag/red" < "mug" < "tea" < "zzz" < TOKYO_CUP::

    buyers    TOKYO_CUP: 用户 1, u2     mug: 用户 1, u2, u3     tea: u2, u3
              zzz: u4                 bag/red: u4
    cosine    (TOKYO_CUP, mug) = (mug, tea) = 2/sqrt(6)
              (TOKYO_CUP, tea) = 1/2    (zzz, bag/red) = 1
    popular   mug 15, tea 10, TOKYO_CUP 10, bag/red 5, zzz 5 (ties go to the smaller id)

Numeric model, int ids::

    buyers    1001: users 1, 2    1002: users 1, 2    1003: users 2, 3
    cosine    (1001, 1002) = 1    (1001, 1003) = (1002, 1003) = 1/2
    popular   1001, 1002, 1003 (10 each, ties go to the smaller id)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

TOKYO_CUP = "商品-東京-01"
USER_1 = "用户 1"

RETAIL_BASKETS: dict[str, list[str]] = {
    USER_1: [TOKYO_CUP, "mug"],
    "u2": [TOKYO_CUP, "mug", "tea"],
    "u3": ["mug", "tea"],
    "u4": ["zzz", "bag/red"],
}
RETAIL_DESCRIPTIONS = {
    TOKYO_CUP: "東京 TEA CUP",
    "mug": "WHITE HANGING HEART T-LIGHT HOLDER",
}
NUMERIC_BASKETS: dict[int, list[int]] = {1: [1001, 1002], 2: [1001, 1002, 1003], 3: [1003]}


def purchase_events(baskets: Mapping[int, Sequence[int]] | Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Build purchase events from {user: [items]}."""
    rows = [(user, item, "purchase") for user, items in baskets.items() for item in items]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event"])
