"""Customer-base models of repeat buying and spend, fitted to an order log's customer summaries.

Pure statistics on (frequency, recency, age, mean spend) summaries, independent of the simulator:
BG/NBD (:mod:`.bgnbd`), Pareto/NBD (:mod:`.pareto_nbd`), a latent-class mixture of BG/NBD
segments (:mod:`.latent_class`), the gamma-gamma spend model (:mod:`.gamma_gamma`), their fit
results with standard errors (:mod:`.fitting`) and diagnostics (:mod:`.diagnostics`).

**Day occasions and continuous time.** The models are continuous-time processes; an order log
summarized by day (:func:`simulator.data.split_periods`, the default) merges a customer's
purchases on one day into one occasion. Frequent buyers lose a little of their count, which
shrinks the apparent spread of purchase rates: on logs generated from the BG/NBD process at the
CDNOW estimates (20,000 customers, a year of calibration), day occasions moved the estimates of
``r`` and ``alpha`` up by about 0.9 and 1.7 standard errors on average (40 seeds), so their 95%
intervals held the truth in 90% and 60% of the logs; summarized by timestamp
(``exact_times=True``) the bias vanished and every parameter's interval held the truth in 97% of
30 logs. With times of day in the log, prefer ``exact_times``; with dates only, read ``r`` and
``alpha`` with that bias in mind (their ratio, the mean rate, is hardly affected).
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
