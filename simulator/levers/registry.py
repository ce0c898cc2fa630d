"""The registered levers, in order, and what is read from them without building them.

:data:`REGISTRY` lists every lever class once. Its order is the order in which a set of levers
(:class:`simulator.levers.composite.Levers`) builds its levers, asks them, tells them about
orders and reports them, so it fixes the daily order of a simulation:

- daily work (:meth:`~simulator.levers.base.Lever.daily`): promotions (campaign costs, flash
  sales) -> retention messages -> win-back offers -> retargeting -> referral;
- end of day (:meth:`~simulator.levers.base.Lever.end_of_day`): loyalty (interactions, tier
  roll-over, perks, counts) -> checkout fixed costs;
- orders (:meth:`~simulator.levers.base.Lever.on_orders`): loyalty first (a first order
  enrolls its shopper, whom a members-only campaign then counts) -> promotions ->
  satisfaction -> win-back -> referral and group buying;
- results: KPIs, daily columns, tables and per-shopper columns in registry order.

Adding a lever: its configuration class and its ``policies`` field
(:mod:`simulator.config.policies`), its module (a :class:`~simulator.levers.base.Lever`
subclass) and one line here; ``tests/test_lever_contract.py`` then checks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Lever, RangeSpec
from .checkout import SimplerCheckout
from .loyalty import LoyaltyProgram
from .promotions import PromotionCalendar
from .referral import ReferralProgram
from .retargeting import RetargetingProgram
from .retention import RetentionProgram
from .service import Satisfaction
from .winback import WinbackProgram

if TYPE_CHECKING:
    from ..config.policies import Policies
    from ..config.scenario import Scenario

__all__ = [
    "REGISTRY",
    "active_levers",
    "default_search_ranges",
    "lever_bytes_per_shopper",
    "lever_of_kpi",
    "lever_tables",
    "levers_with_defaults",
    "program_cost_fields",
]

REGISTRY: tuple[type[Lever[Any]], ...] = (
    LoyaltyProgram,
    PromotionCalendar,
    RetentionProgram,
    SimplerCheckout,
    Satisfaction,
    WinbackProgram,
    RetargetingProgram,
    ReferralProgram,
)
"""Every lever, in the order they are built, asked, told and reported (see the module docstring)."""


def active_levers(policies: Policies) -> list[tuple[type[Lever[Any]], Any]]:
    """The levers ``policies`` turn on, with their configurations, in registry order.

    A lever another active lever requires (``Lever.requires``) is on with its default
    configuration when ``policies`` leaves it out.
    """
    configs = {kind: kind.config_of(policies) for kind in REGISTRY}
    required = {
        key for kind, config in configs.items() if config is not None for key in kind.requires(config)
    }
    active = []
    for kind, config in configs.items():
        if config is None and kind.key in required:
            config = kind.default_config()
        if config is not None:
            active.append((kind, config))
    return active


def lever_tables(policies: Policies) -> dict[str, tuple[str, ...]]:
    """The tables the levers ``policies`` turn on report, each with its index columns."""
    return {name: index for kind, _config in active_levers(policies) for name, index in kind.tables.items()}


def lever_bytes_per_shopper(policies: Policies | None) -> int:
    """Bytes per shopper of the arrays the levers ``policies`` turn on keep (see each lever)."""
    if policies is None:
        return 0
    return sum(kind.bytes_per_shopper(config) for kind, config in active_levers(policies))


def program_cost_fields() -> tuple[str, ...]:
    """The program-cost ledgers of every registered lever, in registry order."""
    return tuple(name for kind in REGISTRY for name in kind.cost_fields)


def levers_with_defaults() -> set[str]:
    """Keys of the levers ``KEY.enabled: true`` may switch on with every field at its default."""
    return {kind.key for kind in REGISTRY if kind.enable_with_defaults}


def default_search_ranges(scenario: Scenario) -> dict[str, RangeSpec]:
    """Every lever's default search ranges for ``scenario`` (path in ``policies`` -> range)."""
    space: dict[str, RangeSpec] = {}
    for kind in REGISTRY:
        space.update(kind.search_ranges(kind.config_of(scenario.policies), scenario))
    return space


def lever_of_kpi(name: str) -> type[Lever[Any]] | None:
    """The registered lever reporting the summary KPI ``name`` (by its prefixes), if any."""
    for kind in REGISTRY:
        if name.startswith(kind.kpi_prefixes):
            return kind
    return None
