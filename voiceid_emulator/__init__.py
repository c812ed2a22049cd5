"""A local Amazon Connect Voice ID service for the batch-job APIs (see README.md).

"voiceid-facts §N" in comments refers to a section of docs/voiceid-facts.md, the sourced fact sheet it follows.
"""

from voiceid_emulator.clock import Clock, ManualClock, ManualPacingError, Pacing, SystemClock
from voiceid_emulator.emulator import Admin, VoiceIdEmulator
from voiceid_emulator.errors import VoiceIdError
from voiceid_emulator.store import Quotas

__all__ = [
    "Admin",
    "Clock",
    "ManualClock",
    "ManualPacingError",
    "Pacing",
    "Quotas",
    "SystemClock",
    "VoiceIdEmulator",
    "VoiceIdError",
]
