"""A local Amazon Bedrock service for batch inference (model invocation jobs) and the runtime's on-demand
InvokeModel and Converse; see README.md.

"bedrock-facts §N" in comments refers to a section of docs/bedrock-facts.md, the sourced fact sheet it follows.
"""

from bedrock_emulator.emulator import DEFAULT_MODEL_IDS, Admin, BedrockEmulator
from bedrock_emulator.errors import BedrockError
from bedrock_emulator.jobs import Pacing
from bedrock_emulator.store import ALL_STATUSES, TERMINAL_STATUSES, ModelQuota, Quotas
from emulator_core.clock import Clock, ManualClock, ManualPacingError, SystemClock

__all__ = [
    "ALL_STATUSES",
    "DEFAULT_MODEL_IDS",
    "TERMINAL_STATUSES",
    "Admin",
    "BedrockEmulator",
    "BedrockError",
    "Clock",
    "ManualClock",
    "ManualPacingError",
    "ModelQuota",
    "Pacing",
    "Quotas",
    "SystemClock",
]
