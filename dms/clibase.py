"""The `dms` command line's base: the group every command registers on and the helpers commands share.
Acting commands take --as LOGIN (whose permissions apply); --json prints JSON;
a refusal exits non-zero with one line on stderr."""
from __future__ import annotations

import importlib
import json
import os
import sys
from functools import wraps
from typing import Any
from collections.abc import Callable

import click

from dms.config import Settings
from dms.errors import DmsError
from dms.runtime import Runtime
from dms.security import Forbidden

EXIT_REFUSED = 3   # a permission refusal
EXIT_INVALID = 2   # bad input
EXIT_PROBLEM = 1   # check/verify found a problem


def fail(message: str, code: int = EXIT_INVALID) -> None:
    click.echo(f"dms: {message}", err=True)
    sys.exit(code)


def handle_errors(fn: Callable) -> Callable:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):  # noqa: ANN202
        try:
            return fn(*args, **kwargs)
        except Forbidden as exc:
            fail(f"отказано: {exc}", EXIT_REFUSED)
        except DmsError as exc:
            detail = "; ".join(f"{k}: {v}" for k, v in exc.details.items())
            fail(exc.message + (f" ({detail})" if detail else ""),
                 EXIT_REFUSED if exc.status in (403, 404) else EXIT_INVALID)
        except OSError as exc:
            fail(f"ошибка ввода-вывода: {exc.strerror or exc} ({getattr(exc, 'filename', '') or ''})")
    return wrapper


def runtime(ctx: click.Context) -> Runtime:
    obj = ctx.ensure_object(dict)
    if "runtime" not in obj:
        obj["runtime"] = Runtime(Settings.from_env())
        ctx.call_on_close(obj["runtime"].close)
    return obj["runtime"]


def emit(data: Any, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
    if as_json or human is None:
        click.echo(json.dumps(data, ensure_ascii=False, default=str))
    else:
        click.echo(human(data))


def read_secret(env_name: str, prompt: str) -> str:
    value = os.environ.get(env_name)
    if value:
        return value
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


class LazyGroup(click.Group):
    """The `dms` group, whose commands live in the capabilities' `cli` modules (each registers its commands on this
    group when imported). `modules` maps a command's name to the modules that define it (dms.cli fills it); a process
    imports only those of the command it runs, not every capability's services: that was about a fifth of the start
    of every `dms` process. Listing the commands (`dms --help`), or a name the map does not know, imports them all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.modules: dict[str, tuple[str, ...]] = {}

    def _load(self, names: set[str]) -> None:
        for name in sorted(names):
            importlib.import_module(name)

    def _load_all(self) -> None:
        self._load({m for ms in self.modules.values() for m in ms})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.modules:
            self._load(set(self.modules[cmd_name]))
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._load_all()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_all()
        return super().list_commands(ctx)


@click.group(cls=LazyGroup)
@click.version_option(package_name="pechat")
def main() -> None:
    """Печать — архив документов с электронной подписью."""
    os.umask(0o077)  # what any command writes into the data dir is the owner's alone (dms.operations.filemodes)
