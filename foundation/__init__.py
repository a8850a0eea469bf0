"""The ground floor every other package stands on: names, errors, settings and logging.

Nothing here imports ``api_hooks``, ``outbox``, ``delivery``, ``migrations`` or ``tidings``;
CI holds that layering (see ``.importlinter``).
"""
