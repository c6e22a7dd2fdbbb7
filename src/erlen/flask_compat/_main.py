"""``python -m flask`` in compat mode: Erlen's command line, with Flask's conventions."""

from __future__ import annotations

from erlen.cli import cli

if __name__ == "__main__":
    # This file runs as `flask.__main__` from Erlen's folder; click would read the
    # program's name from the file ("python -m flask._main"), so give it the one typed.
    cli.main(prog_name="python -m flask")
