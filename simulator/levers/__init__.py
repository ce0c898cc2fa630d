"""Strategy levers: loyalty, promotions, CRM, checkout, service, win-back, retargeting, referral.

Every lever answers one contract (:mod:`simulator.levers.base`) and is listed once in
:mod:`simulator.levers.registry`, whose order is the order of the levers' daily work. The engine
asks the levers of a run (:class:`~simulator.levers.composite.Levers`) for their combined
effects on groups of shoppers and lets them do their daily work; the arms of an A/B test
(:mod:`simulator.levers.arms`) hold one set of levers each.
"""
