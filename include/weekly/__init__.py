"""Weekly maintenance: one module per concern, each with DEFAULTS and maintain() (see each module's docstring)."""
