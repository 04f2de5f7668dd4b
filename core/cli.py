"""The ``vigie`` command. Its subcommands come from the packages that own them, declared as entry points of the
group ``vigie.commands`` in pyproject.toml (``service.commands``: web, up, migrate, create-site, ...;
``workers.cli``: worker, score, train, ...), so the core names neither package."""
from __future__ import annotations

from importlib.metadata import entry_points

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Vigie: self-hosted moderation for French comments."""


def _register() -> None:
    for entry in sorted(entry_points(group="vigie.commands"), key=lambda e: e.name):
        for command in entry.load():
            main.add_command(command)


_register()

if __name__ == "__main__":
    main()
