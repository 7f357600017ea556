"""Policy pack entry point: assembles the pack from ``pack.py``. Nothing else.

``PolicyPack()`` starts the analyzer's gRPC server and never returns, which is why the policies
and their checks live in importable modules (``pack.py``, ``rules.py``).
"""

import importlib
import importlib.util
import sys
from pathlib import Path

from pulumi_policy import PolicyPack

# The CLI runs this file by path from wherever the pack was unpacked (the folder name is not
# ours to choose), so load the folder as a package: pack.py's relative imports then work here
# exactly as they do in the tests.
_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location(
    "agent_sandbox_policies", _HERE / "__init__.py", submodule_search_locations=[str(_HERE)]
)
assert _spec is not None and _spec.loader is not None
sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sys.modules[_spec.name])
pack = importlib.import_module(f"{_spec.name}.pack")

PolicyPack(
    name=pack.PACK_NAME,
    description=pack.PACK_DESCRIPTION,
    enforcement_level=pack.PACK_ENFORCEMENT_LEVEL,
    policies=pack.policies(),
)
