"""bench: benchmark harness (not part of the product)."""
