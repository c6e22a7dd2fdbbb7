"""Erlen's comparison benchmark (not part of the package): run ``python -m bench --help``."""
