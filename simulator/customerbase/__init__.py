"""Customer-base models of repeat buying and spend, fitted to an order log's customer summaries.

Pure statistics on (frequency, recency, age, mean spend) summaries, independent of the simulator:
BG/NBD (:mod:`.bgnbd`), Pareto/NBD (:mod:`.pareto_nbd`), a latent-class mixture of BG/NBD
segments (:mod:`.latent_class`), the gamma-gamma spend model (:mod:`.gamma_gamma`), their fit
results with standard errors (:mod:`.fitting`) and diagnostics (:mod:`.diagnostics`).
"""

from .bgnbd import BGNBDParameters, fit_bgnbd, fit_bgnbd_model
from .diagnostics import conditional_expectations, frequency_histogram, holdout_errors, tracking, weekly
from .fitting import FitResult, IdentificationError, RepeatBuyingModel
from .gamma_gamma import GammaGammaParameters, expected_revenue, fit_gamma_gamma
from .latent_class import LatentClassBGNBD, fit_latent_class, select_latent_classes
from .pareto_nbd import ParetoNBDParameters, fit_pareto_nbd

__all__ = [
    "BGNBDParameters",
    "FitResult",
    "GammaGammaParameters",
    "IdentificationError",
    "LatentClassBGNBD",
    "ParetoNBDParameters",
    "RepeatBuyingModel",
    "conditional_expectations",
    "expected_revenue",
    "fit_bgnbd",
    "fit_bgnbd_model",
    "fit_gamma_gamma",
    "fit_latent_class",
    "fit_pareto_nbd",
    "frequency_histogram",
    "holdout_errors",
    "select_latent_classes",
    "tracking",
    "weekly",
]
