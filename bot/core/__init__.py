"""Platform-neutral types and the business rules."""
