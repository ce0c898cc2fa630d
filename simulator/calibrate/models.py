"""The customer-base models fitted on an order log's calibration period, and their diagnostics.

:func:`fit_customer_base` fits, on the customers' calibration summaries (time unit: weeks):

- the BG/NBD model and the Pareto/NBD model (reported side by side);
- latent-class BG/NBD mixtures of 1 to ``max_segments`` segments, keeping the count with the
  lowest BIC (:func:`simulator.customerbase.select_latent_classes`; one segment is the BG/NBD
  model): **the chosen model**, whose segments become the twin's personas;
- the gamma-gamma model of spend per purchase.

The chosen model is the one both the twin and the closed-form forecasts use, so the two are
forecasts of the same fitted model. The Pareto/NBD model has no counterpart in the engine (the
engine's dropout happens after purchases, as in the BG/NBD story); it is fitted for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..customerbase import (
    FitResult,
    GammaGammaParameters,
    LatentClassBGNBD,
    conditional_expectations,
    fit_bgnbd_model,
    fit_gamma_gamma,
    fit_pareto_nbd,
    frequency_histogram,
    select_latent_classes,
    tracking,
    weekly,
)
from ..customerbase.bgnbd import BGNBDParameters
from ..customerbase.pareto_nbd import ParetoNBDParameters
from ..data import PeriodSplit

__all__ = ["TIME_UNIT_DAYS", "CustomerBaseFit", "fit_customer_base"]

TIME_UNIT_DAYS = 7.0
"""Time unit of the fitted models (days): weeks, as in Fader, Hardie and Lee (2005)."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CustomerBaseFit:
    """The models fitted on one calibration period.

    Attributes
    ----------
    bgnbd, pareto : FitResult
        The BG/NBD and Pareto/NBD fits (time unit :data:`TIME_UNIT_DAYS`); ``pareto`` is
        ``None`` when its search did not converge.
    chosen : FitResult
        The latent-class BG/NBD fit with the lowest BIC (``chosen.model.classes``: the segments).
    segments : pandas.DataFrame
        Segment counts tried: ``log_likelihood``, ``parameters``, ``bic``, ``chosen``.
    spend : FitResult
        The gamma-gamma fit.
    split : PeriodSplit
        The data it was fitted on.
    """

    bgnbd: FitResult[BGNBDParameters]
    pareto: FitResult[ParetoNBDParameters] | None
    chosen: FitResult[LatentClassBGNBD]
    segments: pd.DataFrame
    spend: FitResult[GammaGammaParameters]
    split: PeriodSplit

    @property
    def model(self) -> LatentClassBGNBD:
        """The chosen model."""
        return self.chosen.model

    @property
    def spend_model(self) -> GammaGammaParameters:
        """The gamma-gamma model."""
        return self.spend.model

    def histories(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``x``, ``t_x``, ``T`` of the calibration customers (count, weeks, weeks)."""
        table = self.split.customers
        return (
            table["frequency"].to_numpy(np.float64),
            table["recency"].to_numpy(np.float64),
            table["T"].to_numpy(np.float64),
        )

    def parameters(self) -> pd.DataFrame:
        """Every model's parameters: ``model``, ``parameter``, ``estimate``, ``se``, ``lower``, ``upper``.

        Wald 95% intervals on the transformed scale (:meth:`FitResult.interval`).
        """
        fits: list[tuple[str, FitResult[Any] | None]] = [
            ("bgnbd", self.bgnbd),
            ("pareto_nbd", self.pareto),
            (f"latent_class_{len(self.model.classes)}", self.chosen),
            ("gamma_gamma", self.spend),
        ]
        frames = [fit.table().reset_index().assign(model=name) for name, fit in fits if fit is not None]
        table = pd.concat(frames, ignore_index=True)
        return table[["model", "parameter", "estimate", "se", "lower", "upper"]]

    def summary(self) -> dict[str, Any]:
        """The fits as plain data (for ``calibration.json``)."""

        def described(fit: FitResult[Any]) -> dict[str, Any]:
            low, high = fit.interval()
            return {
                "customers": fit.customers,
                "log_likelihood": fit.log_likelihood,
                "bic": fit.bic,
                "parameters": {
                    name: {"estimate": float(e), "se": float(s), "lower": float(lo), "upper": float(hi)}
                    for name, e, s, lo, hi in zip(
                        fit.names, fit.estimates, fit.standard_errors, low, high, strict=True
                    )
                },
            }

        models: dict[str, Any] = {"bgnbd": described(self.bgnbd)}
        if self.pareto is not None:
            models["pareto_nbd"] = described(self.pareto)
        models["latent_class"] = described(self.chosen) | {"segments": len(self.model.classes)}
        models["gamma_gamma"] = described(self.spend)
        return {
            "time_unit_days": TIME_UNIT_DAYS,
            "chosen_model": "bgnbd" if len(self.model.classes) == 1 else "latent_class",
            "segments": {
                "chosen": len(self.model.classes),
                "criterion": "BIC",
                "tried": [
                    {"segments": int(k), "log_likelihood": float(ll), "bic": float(bic)}
                    for k, ll, bic in zip(
                        self.segments.index,
                        self.segments["log_likelihood"],
                        self.segments["bic"],
                        strict=True,
                    )
                ],
            },
            "models": models,
        }

    def diagnostics(self) -> dict[str, pd.DataFrame]:
        """The standard diagnostics of the chosen model, by file name.

        ``frequency_histogram.csv`` (customers by repeat purchases in the calibration period,
        actual and expected), ``tracking_daily.csv`` and ``tracking_weekly.csv`` (repeat
        purchases per day / week, actual and expected, both periods) and, with a hold-out,
        ``conditional_expectations.csv`` (mean hold-out purchases by calibration frequency).
        """
        split = self.split
        table = split.customers
        x, t_x, age = self.histories()
        daily = tracking(self.model, table["first_day"], split.repeat_by_day, split.calibration_days)
        tables = {
            "frequency_histogram.csv": frequency_histogram(self.model, x, age),
            "tracking_daily.csv": daily,
            "tracking_weekly.csv": weekly(daily),
        }
        if split.holdout_days > 0:
            tables["conditional_expectations.csv"] = conditional_expectations(
                self.model, x, t_x, age, table["holdout_frequency"], split.holdout_length
            )
        return tables


def fit_customer_base(split: PeriodSplit, max_segments: int = 4, seed: int = 0) -> CustomerBaseFit:
    """Fit the customer-base models on a split's calibration customers (see the module docstring).

    Parameters
    ----------
    split
        The order log cut into periods (time unit :data:`TIME_UNIT_DAYS`).
    max_segments
        Most latent-class segments tried (1-4).
    seed
        Seed of the latent-class fits' random starts.

    Raises
    ------
    simulator.data.OrderLogError
        With too few repeat customers to identify the models (:meth:`PeriodSplit.check_identifiable`).
    ValueError
        On a split whose time unit is not :data:`TIME_UNIT_DAYS`.
    """
    if split.time_unit_days != TIME_UNIT_DAYS:
        unit = split.time_unit_days
        raise ValueError(f"the split's time unit must be {TIME_UNIT_DAYS:g} days, got {unit:g}")
    split.check_identifiable()
    table = split.customers
    x, t_x, age = table["frequency"], table["recency"], table["T"]
    bgnbd = fit_bgnbd_model(x, t_x, age, TIME_UNIT_DAYS)
    try:
        pareto: FitResult[ParetoNBDParameters] | None = fit_pareto_nbd(x, t_x, age, TIME_UNIT_DAYS)
    except ValueError:
        pareto = None
    chosen, segments = select_latent_classes(x, t_x, age, max_segments, TIME_UNIT_DAYS, seed=seed)
    spend = fit_gamma_gamma(x, _positive_spend(table["monetary_value"].to_numpy(np.float64), x))
    return CustomerBaseFit(bgnbd, pareto, chosen, segments, spend, split)


def _positive_spend(money: FloatArray, frequency: pd.Series) -> FloatArray:
    """Mean repeat spend with zeros raised to a cent: the gamma-gamma density needs values > 0."""
    repeat = frequency.to_numpy(np.float64) > 0
    return np.where(repeat, np.maximum(money, 0.01), money)
