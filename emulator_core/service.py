"""What both emulators' services share: the parts a service works on, and dispatch of an already-validated
request to the handler of its operation. The operations themselves are each service's own."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from emulator_core.clock import Clock

Handler = Callable[[dict[str, Any]], dict[str, Any]]

StateT = TypeVar("StateT")
EngineT = TypeVar("EngineT")
FaultsT = TypeVar("FaultsT")
QuotasT = TypeVar("QuotasT")


class EmulatorService(ABC, Generic[StateT, EngineT, FaultsT, QuotasT]):
    """One emulated account's API: `handle` runs the handler `_handlers` names for an operation."""

    def __init__(
        self,
        *,
        state: StateT,
        engine: EngineT,
        faults: FaultsT,
        clock: Clock,
        quotas: QuotasT,
        region: str,
        account_id: str,
    ) -> None:
        self.state = state
        self.engine = engine
        self.faults = faults
        self.clock = clock
        self.quotas = quotas
        self.region = region
        self.account_id = account_id
        self.handlers: dict[str, Handler] = self._handlers()

    @abstractmethod
    def _handlers(self) -> dict[str, Handler]:
        """Operation name -> its handler, for every operation the emulator implements."""

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.handlers[operation](params)
