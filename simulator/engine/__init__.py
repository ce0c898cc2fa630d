"""The daily engine: model, shopper population, channels, random streams, journey, results.

One :class:`~simulator.engine.model.CommerceModel` step is one day; the order of the mechanisms
is documented in :mod:`simulator.engine.model`. The strategy levers (:mod:`simulator.levers`)
sit beside the engine: the engine asks them questions through one contract, and they use the
engine's mechanisms (booking an order, starting a consideration).
"""
