"""The WebSocket and REST service."""
