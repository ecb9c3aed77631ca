"""fetch -> extract -> summarize -> render."""
