"""Recommendation models behind one contract, :class:`~recsys.models.base.Recommender`."""

from recsys.models.base import Recommender
from recsys.models.item_knn import ItemKNN
from recsys.models.popular import MostPopular

__all__ = ["ItemKNN", "MostPopular", "Recommender"]
