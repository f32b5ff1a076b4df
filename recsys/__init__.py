"""recsys: item-item recommendations from purchase and browse events.

The public API is listed in ``__all__``; everything else may change without notice.
"""

from recsys._version import __version__
from recsys.catalog import Catalog
from recsys.data import DEFAULT_EVENT_WEIGHTS, IdMap, Interactions, read_events, validate_events
from recsys.diff import ModelDiff, compare_models
from recsys.exceptions import (
    DataValidationError,
    ModelFormatError,
    NotFittedError,
    RecsysError,
    RecsysWarning,
    UnknownIdError,
    UnknownItemError,
    UnknownUserError,
)
from recsys.models import (
    EASE,
    CrossOccurrence,
    ImplicitALS,
    ImplicitBM25,
    ImplicitCosine,
    ImplicitTFIDF,
    ItemKNN,
    MostPopular,
    Recommender,
    RP3Beta,
)
from recsys.persistence import load_model as load
from recsys.results import Recommendation, Recommendations
from recsys.rules import Boost, Range, Rules
from recsys.similarity import SIMILARITIES, item_similarity

__all__ = [
    "DEFAULT_EVENT_WEIGHTS",
    "EASE",
    "SIMILARITIES",
    "Boost",
    "Catalog",
    "CrossOccurrence",
    "DataValidationError",
    "IdMap",
    "ImplicitALS",
    "ImplicitBM25",
    "ImplicitCosine",
    "ImplicitTFIDF",
    "Interactions",
    "ItemKNN",
    "ModelDiff",
    "ModelFormatError",
    "MostPopular",
    "NotFittedError",
    "RP3Beta",
    "Range",
    "Recommendation",
    "Recommendations",
    "Recommender",
    "RecsysError",
    "RecsysWarning",
    "Rules",
    "UnknownIdError",
    "UnknownItemError",
    "UnknownUserError",
    "__version__",
    "compare_models",
    "item_similarity",
    "load",
    "read_events",
    "validate_events",
]
