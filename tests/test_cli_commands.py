"""dms.cli.COMMANDS, the map from each `dms` command to the modules that define it (a process imports only those,
dms.clibase.LazyGroup), names every command the capabilities' `cli` modules register, each with its own modules."""
from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

from dms.cli import COMMANDS, main


def _modules_of(command: click.Command) -> set[str]:
    found = {command.callback.__module__} if command.callback else set()
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            found |= _modules_of(sub)
    return found


def test_the_cli_map_names_every_command_with_the_modules_that_define_it() -> None:
    listed = main.list_commands(click.Context(main))  # imports every module of the map
    assert sorted(COMMANDS) == listed
    wrong = {name: (sorted(_modules_of(main.commands[name])), COMMANDS[name]) for name in listed
             if not _modules_of(main.commands[name]) <= set(COMMANDS[name])}
    assert not wrong, wrong


def test_dms_help_lists_every_command_and_a_command_loads_only_its_modules() -> None:
    out = CliRunner().invoke(main, ["--help"]).output
    assert all(f"  {name} " in out for name in COMMANDS), out
    probe = ("import json, sys; from dms.cli import main; main.get_command(None, 'group');"
             "print(json.dumps(sorted(m for m in sys.modules if m.endswith('cli') and m.startswith('dms.'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert json.loads(loaded) == ["dms.cli", "dms.operations.cli", "dms.people.cli"]  # `group` is people's (it imports
    # operations' `user` group, to which it adds `list`), not every capability's
