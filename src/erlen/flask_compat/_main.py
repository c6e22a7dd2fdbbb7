"""``python -m flask`` in compat mode: Erlen's command line, with Flask's conventions."""

from __future__ import annotations

from erlen.cli import main

if __name__ == "__main__":
    main()
