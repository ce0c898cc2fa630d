"""Calibration on real data: an order log in, a customer-base twin out, checked on a hold-out period.

The layer above :mod:`simulator.measure`: it fits the customer-base models
(:mod:`simulator.customerbase`) on an order log (:mod:`simulator.data`), builds a scenario whose
population is the real customer base (:mod:`simulator.config.customer_base`,
:mod:`simulator.engine.twin`) and runs it (:mod:`.holdout`). ``run.py calibrate`` and ``run.py clv
--orders`` call it.
"""

from .calibrate import CALIBRATION_FILES, CUSTOMERS_FILE, Calibration, calibrate
from .media import MEDIA_CALIBRATION_FILES, NOT_IDENTIFIED, MediaCalibration, calibrate_media
from .models import TIME_UNIT_DAYS, CustomerBaseFit, fit_customer_base
from .posterior import PosteriorEnsemble
from .twin import customer_histories, twin_scenario_data

__all__ = [
    "CALIBRATION_FILES",
    "MEDIA_CALIBRATION_FILES",
    "NOT_IDENTIFIED",
    "CUSTOMERS_FILE",
    "TIME_UNIT_DAYS",
    "Calibration",
    "MediaCalibration",
    "PosteriorEnsemble",
    "CustomerBaseFit",
    "calibrate",
    "calibrate_media",
    "customer_histories",
    "fit_customer_base",
    "twin_scenario_data",
]
