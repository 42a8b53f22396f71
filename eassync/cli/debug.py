"""``eassync debug``: troubleshooting tools.

``eassync debug wbxml decode [FILE]`` prints a WBXML document (a captured request or
response body) as XML; ``eassync debug wbxml encode [FILE]`` turns such XML back into
WBXML bytes. FILE ``-`` or absent means stdin. Bad input exits 2 with one line.
"""

from __future__ import annotations

from typing import BinaryIO

import click

from eassync.cli.output import echo_block
from eassync.errors import ProtocolError, UsageError


@click.group("debug")
def command() -> None:
    """Troubleshooting tools (WBXML decode/encode …)."""


@command.group("wbxml")
def wbxml() -> None:
    """Convert EAS WBXML to readable XML and back (libwbxml's XML form)."""


def _name(stream: BinaryIO) -> str:
    name = getattr(stream, "name", "-")
    return "stdin" if name in ("-", "<stdin>") or not isinstance(name, str) else name


@wbxml.command("decode")
@click.argument("file", type=click.File("rb"), default="-")
@click.option(
    "--libwbxml-names",
    is_flag=True,
    help="Write libwbxml's tag names (Recurrence_Type …) so xml2wbxml can read the output.",
)
@click.option("--indent", default=2, show_default=True, help="Spaces per nesting level.")
def decode_command(file: BinaryIO, libwbxml_names: bool, indent: int) -> None:
    """Print the WBXML document in FILE (default: stdin) as XML."""
    from eassync.eas.wbxml import decode
    from eassync.eas.xmlform import to_xml

    data = file.read()
    try:
        tree = decode(data)
    except ProtocolError as exc:
        raise UsageError(f"{_name(file)}: not valid EAS WBXML: {exc}") from None
    echo_block(to_xml(tree, indent=" " * indent, libwbxml_names=libwbxml_names), nl=False)


@wbxml.command("encode")
@click.argument("file", type=click.File("rb"), default="-")
def encode_command(file: BinaryIO) -> None:
    """Write the XML document in FILE (default: stdin) as WBXML bytes to stdout."""
    from eassync.eas.wbxml import encode
    from eassync.eas.xmlform import from_xml

    text = file.read()
    try:
        data = encode(from_xml(text))
    except ProtocolError as exc:
        raise UsageError(f"{_name(file)}: cannot encode: {exc}") from None
    stdout = click.get_binary_stream("stdout")
    stdout.write(data)
    stdout.flush()
