"""Weekly maintenance: one module per concern, each with DEFAULTS and maintain()."""
