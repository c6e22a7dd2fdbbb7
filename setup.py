"""Packaging hook: ship ``erlen-flask-compat.pth`` beside the package.

The ``.pth`` file runs one line at interpreter start: it imports :mod:`erlen.flask_compat`
only when ``ERLEN_FLASK_COMPAT`` is set, and does nothing otherwise. Everything else about
the package is in ``pyproject.toml``.
"""

from __future__ import annotations

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_NAME = "erlen-flask-compat.pth"


class build_py_with_pth(build_py):
    """``build_py`` that also writes the start-up hook into the wheel's root."""

    def run(self) -> None:
        super().run()
        source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src", PTH_NAME)
        self.copy_file(source, os.path.join(self.build_lib, PTH_NAME), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, PTH_NAME)]

    def get_output_mapping(self) -> dict[str, str]:
        mapping = dict(super().get_output_mapping())
        source = os.path.join("src", PTH_NAME)
        mapping[os.path.join(self.build_lib, PTH_NAME)] = source
        return mapping


def _pth_text() -> str:
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "src", PTH_NAME)) as f:
        return f.read()


cmdclass: dict[str, type] = {"build_py": build_py_with_pth}

try:  # Editable installs (pip install -e) build their own wheel; add the hook to it too.
    from setuptools.command.editable_wheel import editable_wheel
except ImportError:  # pragma: no cover - setuptools without PEP 660 support
    pass
else:

    class _StrategyWithPth:
        """Wraps setuptools' editable strategy so the wheel also carries the hook."""

        def __init__(self, strategy: object) -> None:
            self.strategy = strategy

        def __call__(self, wheel: object, files: object, mapping: object) -> None:
            self.strategy(wheel, files, mapping)  # type: ignore[operator]
            wheel.writestr(PTH_NAME, _pth_text())  # type: ignore[attr-defined]

        def __enter__(self) -> _StrategyWithPth:
            self.strategy.__enter__()  # type: ignore[attr-defined]
            return self

        def __exit__(self, *exc: object) -> None:
            self.strategy.__exit__(*exc)  # type: ignore[attr-defined]

    class editable_wheel_with_pth(editable_wheel):
        """``editable_wheel`` whose wheel also carries the start-up hook."""

        def _select_strategy(self, *args: object, **kwargs: object) -> object:
            return _StrategyWithPth(super()._select_strategy(*args, **kwargs))  # type: ignore[misc]

    cmdclass["editable_wheel"] = editable_wheel_with_pth

setup(cmdclass=cmdclass)
