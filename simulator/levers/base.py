"""The lever contract: what every strategy lever answers, sees, does and reports.

A lever is a subclass of :class:`Lever` listed once in :data:`simulator.levers.registry.REGISTRY`.
The registry's order is the order in which the levers are built, asked, told and reported
(:class:`simulator.levers.composite.Levers` combines their answers); the contract test
(``tests/test_lever_contract.py``) runs over every registered lever.

What a lever declares on its class (read without building it):

- ``key``: its field of the scenario's ``policies`` (and the prefix of its search paths);
  ``config_type``: the class of that field (:mod:`simulator.config.policies`);
  ``config_of`` picks the configuration out of the policies (``None``: the lever is off);
- ``title``: how people call it (command-line summary), ``kpi_prefixes``: the prefixes of its
  summary KPIs;
- ``cost_fields``: the program-cost ledgers it books into (``model.program_costs``), and
  ``booked_cost_kpis``: the summary KPIs that total what it booked there and on the channels'
  spend (discounts it gives are booked with the orders);
- ``bytes_per_shopper``: the memory its per-shopper arrays take (checked by the contract test);
- ``search_ranges``: its default policy-search ranges;
- ``requires``: other levers it reads (they are built with their defaults when not given),
  ``shared_across_arms``: whether the arms of an A/B test share one instance (programs acting
  between shoppers, like word of mouth), ``enable_with_defaults``: whether ``KEY.enabled``
  may switch it on with every field at its default.

What the engine asks a lever about a group of shoppers (each answer aligned with the
shoppers; the base class answers neutrally: no offer, no lift, nothing waived):
:meth:`Lever.offers`, :meth:`Lever.urgency`, :meth:`Lever.checkout_factor`,
:meth:`Lever.ships_free`, :meth:`Lever.redeem`, :meth:`Lever.repurchase_factor`,
:meth:`Lever.refractory_days`, :meth:`Lever.dropout_factor` and, for the value of customers
after the horizon, :meth:`Lever.lasting_effect`. What it is told and does:
:meth:`Lever.word_of_mouth` (after the journey's visits), :meth:`Lever.on_orders` and then
:meth:`Lever.after_orders` (after each booking, with an :class:`OrderBatch`),
:meth:`Lever.daily` (after repeat purchases) and
:meth:`Lever.end_of_day` (after every lever's daily work: tallies and fixed costs); at the end
:meth:`Lever.results` gives one :class:`LeverOutput`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, Self, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    from ..config.policies import Policies
    from ..config.scenario import Scenario
    from ..engine.lifetime import CustomerBase, LastingEffect
    from ..engine.model import CommerceModel
    from .composite import Levers

__all__ = [
    "BoolArray",
    "Float32Array",
    "FloatArray",
    "IntArray",
    "Lever",
    "LeverEffects",
    "LeverOutput",
    "Members",
    "by_layout",
    "OrderBatch",
    "RangeSpec",
    "ShopperRows",
    "share_range",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
RangeSpec = dict[str, Any]
"""One policy parameter's search range: the keyword arguments of the optimizer's
``ParameterRange`` (``type``, ``low``, ``high``, ``step``, ``log``, ``choices``)."""

ConfigT = TypeVar("ConfigT")


@dataclass(frozen=True)
class ShopperRows:
    """Arrays with one entry per shopper of ``shoppers``, split as a whole (e.g. by A/B arm).

    Attributes
    ----------
    shoppers : numpy.ndarray
        Shopper ids.
    """

    shoppers: IntArray

    @property
    def size(self) -> int:
        """Number of rows."""
        return int(self.shoppers.size)

    def take(self, at: IntArray) -> Self:
        """The rows at positions ``at``: every array field indexed, other fields kept."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(self, **{k: v[at] for k, v in values.items() if isinstance(v, np.ndarray)})


@dataclass(frozen=True)
class OrderBatch(ShopperRows):
    """Orders just booked, one entry per order (agent units; each shopper at most once).

    Attributes
    ----------
    shoppers : numpy.ndarray
        Ids of the shoppers who ordered.
    channels : numpy.ndarray
        Channel index of each order.
    first : numpy.ndarray
        Whether the order is the shopper's first.
    kept : numpy.ndarray
        Whether the order was kept (``False``: returned and refunded).
    paid : numpy.ndarray
        What the shopper paid: list value - discount - points + shipping fee (currency per order).
    list_value : numpy.ndarray
        Basket list value (currency per order).
    discount_rate : numpy.ndarray
        Discount the order got, every offer combined (share of list value, 0-1).
    """

    channels: IntArray
    first: BoolArray
    kept: BoolArray
    paid: FloatArray
    list_value: FloatArray
    discount_rate: FloatArray


@dataclass
class LeverOutput:
    """What a lever (or a set of levers) reports after the last day.

    Attributes
    ----------
    daily : pandas.DataFrame
        One row per day simulated (index 0 .. days - 1); counts in people, money in currency
        of the real market. No columns when the lever keeps no daily measures.
    summary : dict of str to float
        Horizon KPIs (people, currency, shares), named with the lever's ``kpi_prefixes``.
    tables : dict of str to pandas.DataFrame
        Named tables (e.g. ``campaigns``, one row per campaign), written as ``NAME.csv``.
    columns : dict of str to array-like
        Per-shopper columns added to the customers table (one entry per shopper).
    """

    daily: pd.DataFrame = field(default_factory=pd.DataFrame)
    summary: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    columns: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def combine(cls, outputs: list[LeverOutput]) -> LeverOutput:
        """One output of several, in order: daily columns side by side, names merged."""
        frames = [o.daily for o in outputs if len(o.daily.columns)]
        combined = cls(daily=pd.concat(frames, axis=1) if frames else pd.DataFrame())
        for output in outputs:
            combined.summary.update(output.summary)
            combined.tables.update(output.tables)
            combined.columns.update(output.columns)
        return combined

    def prefixed(self, prefix: str) -> LeverOutput:
        """The same output with every name prefixed (an A/B arm's: ``control_``...)."""
        return LeverOutput(
            daily=self.daily.add_prefix(prefix),
            summary={f"{prefix}{k}": v for k, v in self.summary.items()},
            tables={f"{prefix}{k}": v for k, v in self.tables.items()},
            columns={f"{prefix}{k}": v for k, v in self.columns.items()},
        )


def daily_frame(model: CommerceModel, measures: Mapping[str, npt.NDArray[Any]]) -> pd.DataFrame:
    """Daily measures kept in agent units (arrays over the horizon) as a frame of the real market.

    Parameters
    ----------
    model
        The model after its run (``model.day`` days simulated, ``model.scale`` people per agent).
    measures
        Column name -> array whose first axis is the day (agent units).
    """
    return pd.DataFrame({name: values[: model.day] * model.scale for name, values in measures.items()})


class Members:
    """The same kind of lever in several worlds of a model, for work done on every world at once.

    Parameters
    ----------
    model
        A batch of worlds (:mod:`simulator.engine.batch`) or a single model (its one world).
    members
        Each world that has the lever, the offset of its shoppers' ids in ``model``, and the lever.

    Attributes
    ----------
    levers : list of Lever
        The members' levers, in order: member ``m`` is ``levers[m]``.
    alone : bool
        Whether ``model`` is the one member's own world (not a batch).
    """

    def __init__(self, model: CommerceModel, members: Sequence[tuple[CommerceModel, int, Any]]) -> None:
        self.model = model
        self.worlds = [world for world, _, _ in members]
        self.levers = [lever for _, _, lever in members]
        self.alone = len(members) == 1 and members[0][0] is model
        worlds = list(model.each_world())
        self._starts = np.array([offset for _, offset in worlds], dtype=np.int64)
        index = {id(world): m for m, world in enumerate(self.worlds)}
        self._member = np.array([index.get(id(world), -1) for world, _ in worlds], dtype=np.int64)
        self.everywhere = bool((self._member >= 0).all())
        """Whether every world of ``model`` is a member."""

    def __len__(self) -> int:
        return len(self.levers)

    def joined(self, lever: Lever[Any], name: str) -> npt.NDArray[Any] | None:
        """The array ``name`` of ``lever``'s kind over all the model's shoppers (``None``: none).

        The lever's own when alone; in a batch, the join of every world's
        (:attr:`Lever.shopper_arrays`).
        """
        if self.alone:
            value: npt.NDArray[Any] = getattr(lever, name)
            return value
        joined = getattr(self.model, "lever_arrays", {})
        found: npt.NDArray[Any] | None = joined.get((type(lever), name))
        return found

    def of(self, shoppers: IntArray) -> IntArray:
        """Member index of each shopper's world (-1: a world without the lever)."""
        if self._starts.size == 1:
            return np.full(shoppers.size, self._member[0], dtype=np.int64)
        return self._member[np.searchsorted(self._starts, shoppers, side="right") - 1]

    def keep(self, shoppers: IntArray) -> tuple[IntArray, IntArray]:
        """The shoppers of member worlds among ``shoppers``, and their member indices."""
        member = self.of(shoppers)
        if self.everywhere:
            return shoppers, member
        mine = member >= 0
        return shoppers[mine], member[mine]

    def sums(self, member: IntArray, values: FloatArray) -> list[float]:
        """Each member's sum of ``values`` (each in the order and with the rounding of ``.sum()`` alone)."""
        if len(self) == 1:
            return [float(values.sum())]
        return [float(values[member == m].sum()) for m in range(len(self))]

    def count(self, member: IntArray, values: IntArray | None = None, width: int = 1) -> IntArray:
        """How many entries each member has (``values``: by value too, members x ``width``)."""
        if values is None:
            return np.bincount(member, minlength=len(self))
        return np.bincount(member * width + values, minlength=len(self) * width).reshape(len(self), width)

    def param(self, value: Callable[[Any], Any], dtype: Any = None) -> npt.NDArray[Any]:
        """One parameter of each member's lever, as an array by member."""
        return np.array([value(lever) for lever in self.levers], dtype=dtype)


MemberT = TypeVar("MemberT", bound=tuple[Any, ...])


def by_layout(members: Sequence[MemberT], layout: Callable[[Any], Any]) -> list[list[MemberT]]:
    """Members (world, offset, lever) grouped by ``layout(lever)``, in order of first appearance.

    Levers that work for many worlds at once do so for worlds whose settings have one layout
    (e.g. the same channels), broadcasting the numbers that differ.
    """
    groups: dict[Any, list[MemberT]] = {}
    for member in members:
        groups.setdefault(layout(member[2]), []).append(member)
    return list(groups.values())


def share_range(current: float, top: float = 0.3) -> RangeSpec:
    """A share (0-1) searched from 0 to ``top`` or twice its current value, whichever is higher."""
    return {"low": 0.0, "high": round(max(top, min(1.0, 2 * current)), 4)}


class Lever(Generic[ConfigT]):
    """A strategy lever: neutral answers to every question, and no work, unless overridden.

    Parameters
    ----------
    config
        The lever's configuration (its ``policies`` section).
    model
        The model being built: population, random numbers and channels exist; the lever may
        read them and size its arrays.
    levers
        The set of levers this one belongs to: its scope (:meth:`Levers.within`), its ``share``
        of fixed costs, the pricing rules and the other levers (:meth:`Levers.find`).
    """

    key: ClassVar[str]
    """Field of ``policies`` holding the lever's configuration."""
    title: ClassVar[str]
    """Display title (command-line summary); default the key, in words."""
    config_type: ClassVar[type[Any]]
    """Class of the configuration (a model of :mod:`simulator.config.policies`)."""
    kpi_prefixes: ClassVar[tuple[str, ...]]
    """Prefixes of the summary KPIs the lever reports; default ``KEY_``."""
    cost_fields: ClassVar[tuple[str, ...]] = ()
    """Program-cost ledgers the lever books into (``model.program_costs``, agent units)."""
    tables: ClassVar[dict[str, tuple[str, ...]]] = {}
    """The tables of the lever's results (written as ``NAME.csv``), each with its index columns;
    :meth:`simulator.SimulationResult.load` reads them back by these names."""
    booked_cost_kpis: ClassVar[tuple[str, ...]] = ()
    """Summary KPIs that add up the costs the lever booked in program costs and channel spend."""
    shared_across_arms: ClassVar[bool] = False
    """The arms of an A/B test share one instance (it acts between shoppers of both arms)."""
    enable_with_defaults: ClassVar[bool] = False
    """``KEY.enabled: true`` may switch the lever on with every field at its default."""
    shopper_arrays: ClassVar[tuple[str, ...]] = ()
    """Attributes holding one entry per shopper (last axis) that the lever's work for many
    worlds at once reads by the batch's shopper ids: a batch joins every world's into one array
    and leaves each world's lever a view of its part (the lever must update them in place)."""
    count_streams: ClassVar[tuple[str, ...]] = ()
    """Mechanisms whose keyed count generators (``model.crn.generator(name, day)``) the lever
    draws from every day; a batch of worlds seeds every world's at once."""
    repeat_price_response: ClassVar[bool] = False
    """With this lever on, customers' repeat-purchase rate responds to the price of the offers
    they hold (promotions, loyalty and CRM offers reach customers before they decide)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "key" in cls.__dict__:
            if "title" not in cls.__dict__:
                cls.title = cls.key.replace("_", " ")
            if "kpi_prefixes" not in cls.__dict__:
                cls.kpi_prefixes = (f"{cls.key}_",)

    def __init__(self, config: ConfigT, model: CommerceModel, levers: Levers) -> None:
        self.config = config
        self.levers = levers

    # Class-level hooks ----------------------------------------------------------------------
    @classmethod
    def config_of(cls, policies: Policies) -> ConfigT | None:
        """The lever's configuration in ``policies`` (``None``: the lever is off)."""
        config: ConfigT | None = getattr(policies, cls.key, None)
        return config

    @classmethod
    def default_config(cls) -> ConfigT:
        """The configuration with every field at its default (when another lever requires it)."""
        config: ConfigT = cls.config_type()
        return config

    @classmethod
    def requires(cls, config: ConfigT) -> tuple[str, ...]:
        """Keys of the levers this one reads; they are built with their defaults when off."""
        return ()

    @classmethod
    def bytes_per_shopper(cls, config: ConfigT) -> int:
        """Memory of the lever's per-shopper arrays (bytes per shopper)."""
        return 0

    @classmethod
    def search_ranges(cls, config: ConfigT | None, scenario: Scenario) -> dict[str, RangeSpec]:
        """Default policy-search ranges (path in ``policies`` -> range); ``config`` ``None``: off."""
        return {}

    # Questions ------------------------------------------------------------------------------
    def offers(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray | None, first: BoolArray
    ) -> list[FloatArray]:
        """Discounts offered to each order (shares of list value), combined by the stacking rule.

        ``channels`` ``None``: the offer anywhere (a shopper deciding whether to cart).
        """
        return []

    def urgency(self, model: CommerceModel, shoppers: IntArray) -> FloatArray | None:
        """Extra conversion lift, added to the multiplier of the cart rate (ratio)."""
        return None

    def checkout_factor(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray
    ) -> float | FloatArray | None:
        """Multiplier of the chance that a cart passes the channel's checkout friction."""
        return None

    def ships_free(self, model: CommerceModel, shoppers: IntArray) -> BoolArray | None:
        """Whether each shopper's order ships free (no fee, no shipping friction)."""
        return None

    def redeem(self, model: CommerceModel, shoppers: IntArray, value: FloatArray) -> FloatArray | None:
        """Points each order pays with (currency per order, up to ``value``); may use them up."""
        return None

    def repurchase_factor(self, model: CommerceModel, shoppers: IntArray) -> FloatArray | None:
        """Multiplier of each customer's repeat-purchase rate today."""
        return None

    def refractory_days(self, model: CommerceModel, shoppers: IntArray) -> FloatArray | None:
        """Days over which each customer's repeat rate ramps back after the last order (days)."""
        return None

    def dropout_factor(self, model: CommerceModel, shoppers: IntArray) -> Float32Array | None:
        """Multiplier of each customer's chance to drop out after a repeat purchase."""
        return None

    def lasting_effect(self, model: CommerceModel, customers: CustomerBase) -> LastingEffect | None:
        """The lever's effect on the customers' repeat buying after the horizon.

        What keeps working when the lever runs on (a loyalty tier, a satisfaction score, CRM
        windows after every order, win-back offers, recovered carts; not a dated campaign),
        for the expected remaining value (:mod:`simulator.engine.lifetime`). ``None``: none.
        """
        return None

    def lasting_days(self, model: CommerceModel) -> int:
        """Days after an order that :meth:`lasting_effect`'s grids must cover (days)."""
        return 0

    # Events and work ------------------------------------------------------------------------
    def word_of_mouth(self, model: CommerceModel) -> None:
        """Bring prospects to visit, after the journey's visits and before the day's decisions."""

    def on_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        """See orders just booked (the lever's scope only)."""

    def after_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        """Act on a booking once every lever has seen it (e.g. book the friends it brings).

        A lever the A/B arms share sees the whole booking here, in its order, once.
        """

    def daily(self, model: CommerceModel) -> None:
        """The day's work after repeat purchases: messages, offers, ads, campaign costs."""

    def end_of_day(self, model: CommerceModel) -> None:
        """Close the day after every lever's daily work: tallies, roll-overs, fixed costs."""

    # Many worlds in one step -----------------------------------------------------------------
    @classmethod
    def daily_together(cls, batch: CommerceModel, members: Sequence[tuple[CommerceModel, int, Self]]) -> None:
        """:meth:`daily` of this lever in several worlds of a batch (as :meth:`word_of_mouth_together`)."""
        for world, _, lever in members:
            lever.daily(world)

    @classmethod
    def on_orders_together(
        cls,
        batch: CommerceModel,
        members: Sequence[tuple[CommerceModel, int, Self]],
        orders: OrderBatch,
        parts: Mapping[int, OrderBatch],
    ) -> None:
        """:meth:`on_orders` of this lever in several worlds of a batch (as :meth:`word_of_mouth_together`).

        ``orders``: the booking, shopper ids of the batch; ``parts``: each member world's orders
        (ids in the world) by ``id(world)``. By default each world's lever sees its part.
        """
        for world, _, lever in members:
            lever.on_orders(world, parts[id(world)])

    @classmethod
    def word_of_mouth_together(
        cls, batch: CommerceModel, members: Sequence[tuple[CommerceModel, int, Self]]
    ) -> None:
        """:meth:`word_of_mouth` of this lever in several worlds stepped as one batch.

        ``members``: each world of ``batch`` (:mod:`simulator.engine.batch`) where the lever is
        on, the offset of the world's shopper ids in the batch, and the world's lever. By default
        one world after the other; a lever may work for every world at once, provided each
        world's results stay those of the world alone.
        """
        for world, _, lever in members:
            lever.word_of_mouth(world)

    def share_state(self, first: Lever[ConfigT]) -> None:
        """Share state with the same lever of the first A/B arm (e.g. one score per shopper)."""

    # Results --------------------------------------------------------------------------------
    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        """Daily measures, KPIs, tables and per-shopper columns (``daily_orders``: people per day)."""
        return LeverOutput()


class LeverEffects(Protocol):
    """What the model's mechanisms ask their levers (``model.levers``), and when.

    Call order in a day: :meth:`word_of_mouth` after the journey's visits; during the journey
    and repeat purchases :meth:`conversion_factor`, :meth:`checkout_pass`,
    :meth:`repurchase_factor`, :meth:`refractory_days` and :meth:`dropout_factor` for groups of
    shoppers; for every booking :meth:`discount`, :meth:`redeem_points` and
    :meth:`shipping_fee`, then :meth:`on_orders`; :meth:`daily` once after repeat purchases;
    :meth:`results` after the last day, :meth:`lasting_effect` whenever a customer's value
    after the horizon is wanted. Every per-shopper answer is an array aligned with
    ``shoppers``; a lever that is off answers neutrally.
    """

    def discount(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray | None, first: BoolArray
    ) -> FloatArray:
        """Discount (share of list value) each order gets; ``channels`` ``None``: any channel."""

    def conversion_factor(self, model: CommerceModel, shoppers: IntArray, first: BoolArray) -> FloatArray:
        """Multiplier of the chance to put an item in the cart."""

    def checkout_pass(self, model: CommerceModel, shoppers: IntArray, channels: IntArray) -> FloatArray:
        """Chance that each cart checks out in its channel."""

    def shipping_fee(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Shipping fee each shopper pays (currency per order)."""

    def redeem_points(self, model: CommerceModel, shoppers: IntArray, value: FloatArray) -> FloatArray:
        """Loyalty points each order pays with, as currency (taken off the shoppers' points)."""

    def repurchase_factor(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Multiplier of customers' repurchase rate."""

    def refractory_days(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Days over which a customer's repurchase rate ramps back after a promoted order."""

    def dropout_factor(self, model: CommerceModel, shoppers: IntArray) -> Float32Array:
        """Multiplier of the dropout chance after a repeat purchase."""

    def lasting_effect(self, model: CommerceModel, customers: CustomerBase) -> LastingEffect:
        """Every lever's lasting effect on these customers, combined (see :class:`Lever`)."""

    def lasting_days(self, model: CommerceModel) -> int:
        """Days after an order the lasting effects span (the longest lever's)."""

    def on_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        """See the orders just booked."""

    def word_of_mouth(self, model: CommerceModel) -> None:
        """Word of mouth and referrals bring prospects to visit (before the day's decisions)."""

    def daily(self, model: CommerceModel) -> None:
        """The levers' daily work."""

    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        """Per-lever outputs: daily columns, summary KPIs, tables and per-shopper columns."""
