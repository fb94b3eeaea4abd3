"""Serving certificates: generating them, deciding when to rotate, reloading them, and self-managed mode."""
