"""Composition root: stack config -> settings -> SandboxPlatform -> stack outputs."""

import pulumi

from components.platform import SandboxPlatform, SandboxPlatformArgs
from components.settings import load_settings

settings = load_settings()  # every check runs here and in preflight: bad input registers nothing
platform = SandboxPlatform("agent-sandbox", SandboxPlatformArgs(settings))

for key, value in platform.exports.items():
    pulumi.export(key, value)
