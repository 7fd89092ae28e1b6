"""What each field and mutation does: authorize, validate, apply domain rules, write.
Returns rows or domain values, never schema types."""
