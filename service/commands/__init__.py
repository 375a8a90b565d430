"""CLI sub-commands: each module exposes `register(subparsers)` and sets `handler` on its parser.

A handler is `def handler(args: argparse.Namespace, settings: Settings) -> int` (the exit code);
commands that need asyncio run their own loop with `asyncio.run`.
"""
