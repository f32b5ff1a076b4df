"""Recommendation models behind one contract, :class:`~recsys.models.base.Recommender`."""

from recsys.models.base import Recommender
from recsys.models.cross_occurrence import CrossOccurrence
from recsys.models.ease import EASE
from recsys.models.implicit_adapters import ImplicitALS, ImplicitBM25, ImplicitCosine, ImplicitTFIDF
from recsys.models.item_knn import ItemKNN
from recsys.models.popular import MostPopular
from recsys.models.rp3beta import RP3Beta

__all__ = [
    "EASE",
    "CrossOccurrence",
    "ImplicitALS",
    "ImplicitBM25",
    "ImplicitCosine",
    "ImplicitTFIDF",
    "ItemKNN",
    "MostPopular",
    "RP3Beta",
    "Recommender",
]
