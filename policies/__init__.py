"""Pulumi policy pack for the agent-sandbox platform (``pulumi preview --policy-pack policies``).

The pack ships on its own (``pulumi policy publish``): nothing here imports the program.
"""
