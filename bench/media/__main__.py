"""Run every media benchmark module of this package (each defines `main()` and prints its figures).

uv run python -m bench.media [module ...]
"""

import importlib
import pkgutil
import sys

import bench.media as package


def main() -> None:
    wanted = sys.argv[1:]
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("_") or (wanted and module.name not in wanted):
            continue
        print(f"== {module.name} ==", flush=True)
        importlib.import_module(f"bench.media.{module.name}").main()


if __name__ == "__main__":
    main()
