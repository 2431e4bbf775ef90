"""
``--config FILE``: the options of ``twistd tchat`` in a TOML file.

The keys are the long option names, the values what the option takes::

    port = ["4321", "ssl:6697:privateKey=key.pem:certKey=cert.pem"]
    web-port = 5000
    db = "postgresql://tchat@127.0.0.1/tchat"
    motd = "Be nice."
    max-users = 500
    flood-rate = 5.0

A file is read with the standard library's ``tomllib`` and turned into the
command line it stands for (L{arguments_from}), placed *before* the real
command line, so the command line overrides it: a single-valued option
given on the command line wins, and a repeatable one (``port``) given there
replaces the file's list. Which options are repeatable, and the one-letter
synonyms, the caller says (``tchat.tap``: every door's port option is one). An unknown key or a value of the wrong type is a
L{usage.UsageError} naming the file and the key, before anything starts.
"""

from __future__ import annotations

import tomllib
from typing import Any, Callable, Collection, Iterable, Mapping, Sequence

from twisted.python import usage

# The option that names the file: not a key of the file itself.
CONFIG = "config"


def _kind(coerce: Callable[[str], Any] | None) -> str:
    return {int: "an integer", float: "a number"}.get(coerce, "a string")  # type: ignore[call-overload]


def _text(key: str, value: Any, coerce: Callable[[str], Any] | None, where: str, repeatable: Collection[str]) -> str:
    """One value as the command line would spell it, or UsageError if it is not of the option's type."""
    if isinstance(value, bool):
        if key == "guests":
            return "yes" if value else "no"
        raise usage.UsageError(f"{where}: {key} must be {_kind(coerce)}, not true or false")
    if coerce is int and isinstance(value, int):
        return str(value)
    if coerce is float and isinstance(value, (int, float)):
        return str(value)
    if coerce is None and isinstance(value, str):
        return value
    if coerce is None and key in repeatable and isinstance(value, int):
        return str(value)  # port = 4321
    raise usage.UsageError(f"{where}: {key} must be {_kind(coerce)}, not {type(value).__name__} {value!r}")


def given_on_command_line(args: Sequence[str], synonyms: Mapping[str, str]) -> set[str]:
    """
    The long option names that ``args`` gives (``--max-users 5``,
    ``--max-users=5``, ``-p 4321``); ``synonyms`` maps one-letter options
    to their long names (``{"p": "port"}``).
    """
    given = set()
    for arg in args:
        if arg.startswith("--"):
            given.add(arg[2:].split("=", 1)[0])
        elif arg.startswith("-") and arg[1:2] in synonyms:
            given.add(synonyms[arg[1:2]])
    return given


def config_path(args: Sequence[str]) -> str | None:
    """The ``--config FILE`` in ``args``, if any (the last one wins)."""
    path = None
    for i, arg in enumerate(args):
        if arg == "--" + CONFIG and i + 1 < len(args):
            path = args[i + 1]
        elif arg.startswith(f"--{CONFIG}="):
            path = arg.split("=", 1)[1]
    return path


def arguments_from(path: str, parameters: Iterable[Sequence[Any]], repeatable: Sequence[str], given: set[str]) -> list[str]:
    """
    The command-line arguments the file at ``path`` stands for, leaving out
    the options in ``given`` (the command line's own). ``parameters`` is the
    Options' ``optParameters`` table (name, short, default, help, coerce);
    ``repeatable`` names the options that may be given several times (a
    list in the file, or one value).
    """
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except OSError as e:
        raise usage.UsageError(f"--config {path}: cannot read it: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise usage.UsageError(f"--config {path}: not valid TOML: {e}") from None
    coerces: dict[str, Callable[[str], Any] | None] = {
        row[0]: (row[4] if len(row) > 4 else None) for row in parameters if row[0] != CONFIG
    }
    known = sorted([*coerces, *repeatable])
    args: list[str] = []
    for key, value in table.items():
        where = f"--config {path}"
        if key not in coerces and key not in repeatable:
            raise usage.UsageError(f"{where}: unknown key {key!r}; the keys are the long option names: {', '.join(known)}")
        if key in given:
            continue  # the command line overrides the file
        if key in repeatable:
            values = value if isinstance(value, list) else [value]
            for item in values:
                args += [f"--{key}", _text(key, item, None, where, repeatable)]
        else:
            if isinstance(value, (list, dict)):
                raise usage.UsageError(f"{where}: {key} takes one value, not a {'list' if isinstance(value, list) else 'table'}")
            args += [f"--{key}", _text(key, value, coerces[key], where, repeatable)]
    return args
