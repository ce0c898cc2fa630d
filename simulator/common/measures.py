"""The measures of return, defined once: name, formula, break-even and where each appears.

Every command, table, chart, JSON field and the README use these names with these meanings
(the README's "Measures" table lists them). A measure is a ratio of an outcome to the spend
that bought it:

- ``roi`` = profit / spend. For the whole business (the summary KPI) the profit after every
  cost over the marketing spend; for one channel (incrementality, allocation) the *incremental*
  profit the channel's spend brings (profit with the spend minus profit without it, the spend
  itself paid) over that spend. Break-even 0: above 0 the spend pays for itself.
- ``marginal_roi``: the same for the next unit of spend (break-even 0: spend more while it is
  above 0, as far as the budget allows).
- ``roas`` = revenue / spend (for one channel: incremental revenue / its spend). Not a return
  on its own: the spend pays when ``roas`` is above 1 / the contribution margin of revenue.
- ``marginal_roas``: the same for the next unit of spend.
- ``last_touch_roas`` = revenue of the orders whose last touch was the channel / the channel's
  spend: an attribution figure, not incremental (a channel that only catches buyers who would
  have bought anyway can show a large one).
- The allocation's other objectives have their own per-spend measures (``roas`` for revenue,
  ``new_customers_per_1000``, ``realized_value_per_spend``, ``lifetime_value_per_spend``) and
  their marginal forms.

Lowest layer: nothing of the toolkit is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MEASURES", "Measure", "break_even_text", "measure_header"]


@dataclass(frozen=True)
class Measure:
    """One measure of return.

    Attributes
    ----------
    name : str
        Name in tables, JSON fields and on the command line.
    label : str
        Readable name (``ROI``).
    formula : str
        What it divides by what.
    break_even : float or None
        The value at which the spend just pays for itself; None when the measure has no
        break-even of its own (then :attr:`break_even_note` says why).
    break_even_note : str
        Break-even in words, shown next to every column and axis of the measure.
    appears : str
        Where it appears (commands and files).
    """

    name: str
    label: str
    formula: str
    break_even: float | None
    break_even_note: str
    appears: str


def _registry(*entries: Measure) -> dict[str, Measure]:
    return {entry.name: entry for entry in entries}


_NO_BREAK_EVEN = "no break-even of its own"

# fmt: off
MEASURES: dict[str, Measure] = _registry(
    Measure("roi", "ROI", "profit / spend (a channel: incremental profit / its spend)", 0.0,
            "break-even 0",
            "simulate summary; incrementality; allocate and optimize (objective, checks, channel table)"),
    Measure("marginal_roi", "marginal ROI", "incremental profit of the next unit of spend / that unit", 0.0,
            "break-even 0", "incrementality; allocate and optimize channel tables; response curves"),
    Measure("roas", "ROAS", "revenue / spend (a channel: incremental revenue / its spend)", None,
            "pays when above 1 / contribution margin",
            "simulate summary; incrementality; allocate (revenue)"),
    Measure("marginal_roas", "marginal ROAS", "incremental revenue of the next unit of spend / that unit",
            None, "pays when above 1 / contribution margin", "incrementality; allocate (revenue)"),
    Measure("last_touch_roas", "last-touch ROAS", "revenue of orders last touched by the channel / its spend",
            None, "attribution, not incremental: " + _NO_BREAK_EVEN, "simulate channel table; report"),
    Measure("new_customers_per_1000", "new customers per 1,000 spent",
            "incremental new customers / spend x 1,000", None, _NO_BREAK_EVEN, "allocate (new_customers)"),
    Measure("marginal_new_customers_per_1000", "marginal new customers per 1,000",
            "incremental new customers of the next 1,000 of spend", None, _NO_BREAK_EVEN,
            "allocate (new_customers)"),
    Measure("realized_value_per_spend", "realized value per unit of spend",
            "incremental margin realized by the customers won / spend", 1.0, "break-even 1",
            "allocate (realized_value)"),
    Measure("marginal_realized_value_per_spend", "marginal realized value per unit of spend",
            "incremental realized margin of the next unit of spend / that unit", 1.0, "break-even 1",
            "allocate (realized_value)"),
    Measure("lifetime_value_per_spend", "lifetime value per unit of spend",
            "incremental expected lifetime value of the customers won / spend", 1.0, "break-even 1",
            "allocate (lifetime_value)"),
    Measure("marginal_lifetime_value_per_spend", "marginal lifetime value per unit of spend",
            "incremental expected lifetime value of the next unit of spend / that unit", 1.0, "break-even 1",
            "allocate (lifetime_value)"),
)
# fmt: on
"""Every measure of return, by name."""


def break_even_text(name: str) -> str:
    """The break-even of a measure in words (``break-even 0``); empty for other names."""
    measure = MEASURES.get(name)
    return measure.break_even_note if measure is not None else ""


def measure_header(name: str) -> str:
    """A column header or axis label: ``marginal ROI (ratio, break-even 0)``; other names with spaces."""
    measure = MEASURES.get(name)
    if measure is None:
        return name.replace("_", " ")
    unit = "people" if name.endswith("_per_1000") else "ratio"
    return f"{measure.label} ({unit}, {measure.break_even_note})"
