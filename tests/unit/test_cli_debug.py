"""``eassync debug wbxml decode|encode``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from eassync.cli import cli
from eassync.errors import UsageError

INITIAL_FOLDERSYNC = bytes.fromhex("03016a00 0007 56 52 03 3000 01 01")


def test_decode_reads_stdin_and_prints_xml() -> None:
    result = CliRunner().invoke(cli, ["debug", "wbxml", "decode"], input=INITIAL_FOLDERSYNC)
    assert result.exit_code == 0, result.output
    assert '<FolderSync xmlns="FolderHierarchy:">\n  <SyncKey>0</SyncKey>\n' in result.output


def test_decode_reads_a_file_and_can_write_libwbxml_names(tmp_path: Path) -> None:
    from eassync.eas.element import E
    from eassync.eas.wbxml import encode

    path = tmp_path / "recurrence.wbxml"
    path.write_bytes(encode(E("Calendar:Recurrence", E("Calendar:Type", value="1"))))
    runner = CliRunner()
    ours = runner.invoke(cli, ["debug", "wbxml", "decode", str(path)])
    theirs = runner.invoke(cli, ["debug", "wbxml", "decode", "--libwbxml-names", str(path)])
    assert "<Type>1</Type>" in ours.output
    assert "<Recurrence_Type>1</Recurrence_Type>" in theirs.output


def test_encode_turns_xml_into_wbxml_bytes(tmp_path: Path) -> None:
    path = tmp_path / "foldersync.xml"
    path.write_text('<FolderSync xmlns="FolderHierarchy:"><SyncKey>0</SyncKey></FolderSync>')
    result = CliRunner().invoke(cli, ["debug", "wbxml", "encode", str(path)])
    assert result.exit_code == 0
    assert result.stdout_bytes == INITIAL_FOLDERSYNC


def test_decode_then_encode_gives_the_same_bytes() -> None:
    runner = CliRunner()
    xml = runner.invoke(cli, ["debug", "wbxml", "decode", "-"], input=INITIAL_FOLDERSYNC).output
    result = runner.invoke(cli, ["debug", "wbxml", "encode", "-"], input=xml)
    assert result.stdout_bytes == INITIAL_FOLDERSYNC


def test_broken_wbxml_is_a_usage_error_naming_the_offset() -> None:
    result = CliRunner().invoke(cli, ["debug", "wbxml", "decode"], input=INITIAL_FOLDERSYNC[:-1])
    assert isinstance(result.exception, UsageError)
    assert "at byte 12" in str(result.exception)


def test_broken_xml_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["debug", "wbxml", "encode"], input=b"<FolderSync>")
    assert isinstance(result.exception, UsageError)
    assert "not well-formed" in str(result.exception)


def test_real_process_exits_2_with_one_line_and_no_traceback() -> None:
    broken = subprocess.run(
        [sys.executable, "-m", "eassync", "debug", "wbxml", "decode"],
        input=b"\x03\x01\x6a\x00\x45",
        capture_output=True,
        timeout=60,
    )
    assert broken.returncode == 2
    assert broken.stderr.decode().splitlines() == [
        "error: stdin: not valid EAS WBXML: truncated document: AirSync:Sync is not closed"
        " (at byte 5)"
    ]
    fine = subprocess.run(
        [sys.executable, "-m", "eassync", "debug", "wbxml", "decode", "-"],
        input=INITIAL_FOLDERSYNC,
        capture_output=True,
        timeout=60,
    )
    assert fine.returncode == 0
    assert b"<SyncKey>0</SyncKey>" in fine.stdout
