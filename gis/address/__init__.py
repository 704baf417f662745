"""Address matching: free-text Chinese addresses → the most specific grid, with a confidence.

>>> from gis.address import AddressMatcher, Gazetteer                      # doctest: +SKIP
>>> matcher = AddressMatcher(Gazetteer.from_demo(demo))                     # doctest: +SKIP
>>> matcher.match("甘州区党寨镇李寨村三社").status                          # doctest: +SKIP
'matched'

* :mod:`gis.address.gazetteer` — the grid names with their aliases.
* :mod:`gis.address.matcher` — :class:`AddressMatcher`, :class:`Match`.
* :mod:`gis.address.evaluate` — accuracy on a labelled set (see ``data.addresses``).
* :mod:`gis.address.text` — normalisation, numerals, pinyin codes.
* :mod:`gis.address.places` — the matcher of a stored grid version (cached per version) and
  each grid's representative point.
* :mod:`gis.address.review` — the review queue of addresses intake could not place.
"""

from gis.address.evaluate import evaluate
from gis.address.gazetteer import Gazetteer, Unit
from gis.address.matcher import AddressMatcher, Candidate, Match

__all__ = ["AddressMatcher", "Candidate", "Gazetteer", "Match", "Unit", "evaluate"]
