"""aiosqlite storage: migrations and one repository per table group."""
