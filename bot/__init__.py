"""Agora: French debate digests of shared links, for Discord and Matrix."""

__version__ = "0.1.0"
