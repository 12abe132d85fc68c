"""The `lwlc` command and `python -m lwlc`: the command line of lwlc/cli.py, loaded here so
that a Ctrl-C while it loads (typer, rich, lwlc itself: the first half second) ends as one
in a command does, "lwlc: interrupted" and status 130, not with a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from lwlc.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("lwlc: interrupted\n")
        raise SystemExit(130) from None
    cli_main()


if __name__ == "__main__":  # pragma: no cover
    main()
