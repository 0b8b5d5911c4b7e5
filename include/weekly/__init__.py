"""Weekly maintenance: one module per concern (see each module's docstring)."""
