"""Property-based fuzzing of everything a chat user or a web page controls (issue #5, point 4)."""
