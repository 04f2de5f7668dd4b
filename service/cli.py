"""The `vigie` command. Subcommands are added by the modules that own them."""
from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Vigie: self-hosted moderation for French comments."""


def _register() -> None:
    import importlib

    for module_name in ("service.commands", "workers.cli"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # during development a surface may not exist yet
            if exc.name != module_name:
                raise
            continue
        for command in getattr(module, "COMMANDS", []) + getattr(module, "MODEL_COMMANDS", []):
            main.add_command(command)


_register()

if __name__ == "__main__":
    main()
