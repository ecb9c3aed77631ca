"""Chat platform adapters."""
