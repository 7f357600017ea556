"""Composition root: stack config -> settings -> the component of the stack's role -> outputs.

role (Pulumi.<stack>.yaml): platform | all-in-one -> SandboxPlatform; tenant -> Tenant, which
reads its platform stack through a StackReference (components/composition/roles.py).
"""

import pulumi

from components.composition.roles import build
from components.settings import load_settings

settings = load_settings()  # every check runs here and in preflight: bad input registers nothing
stack = build(settings)

for key, value in stack.exports.items():
    pulumi.export(key, value)
