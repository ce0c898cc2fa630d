"""Strategy levers: loyalty, promotions, CRM, win-back, retargeting, referral, service, checkout.

The engine asks the levers of a run (:class:`~simulator.levers.composite.Levers`) for their
effects on groups of shoppers and lets them do their daily work; the arms of an A/B test
(:mod:`simulator.levers.arms`) hold one set of levers each.
"""
