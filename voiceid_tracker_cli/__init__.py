"""The CLI package's name before Bedrock, kept as an alias of `batch_job_tracker_cli` for scripts that import it.

`voiceid_tracker_cli.<module>` is the very module object `batch_job_tracker_cli.<module>` (registered in
`sys.modules` under both names), not a copy: state and monkeypatches are shared, and classes compare equal.
New code imports `batch_job_tracker_cli`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import batch_job_tracker_cli

# Every module of the package, found rather than listed so that a module added later is aliased too.
# `__main__` is left out: importing it runs the CLI (`python -m voiceid_tracker_cli` has its own).
for _module in pkgutil.iter_modules(batch_job_tracker_cli.__path__):
    if _module.name == "__main__":
        continue
    _aliased = importlib.import_module(f"{batch_job_tracker_cli.__name__}.{_module.name}")
    sys.modules[f"{__name__}.{_module.name}"] = _aliased
    globals()[_module.name] = _aliased
