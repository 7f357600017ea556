"""agent-sandbox-platform components: importable by any Pulumi program (see examples/)."""
