"""Pure business rules: no I/O, nothing of ours imported."""
