"""The protocol trace's redaction (pure) and its files (eassync.eas.trace)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from eassync.eas import trace
from eassync.eas.element import E
from eassync.eas.wbxml import encode
from eassync.errors import UsageError


def _sync_with_a_contact() -> bytes:
    return encode(
        E(
            "AirSync:Sync",
            E(
                "AirSync:Collections",
                E(
                    "AirSync:Collection",
                    E("AirSync:SyncKey", value="7"),
                    E("AirSync:CollectionId", value="2"),
                    E(
                        "AirSync:Commands",
                        E(
                            "AirSync:Add",
                            E("AirSync:ClientId", value="c1"),
                            E(
                                "AirSync:ApplicationData",
                                E("Contacts:FirstName", value="Wilhelmina"),
                                E("Contacts:Email1Address", value="wil@example.org"),
                                E(
                                    "AirSyncBase:Body",
                                    E("AirSyncBase:Type", value=1),
                                    E("AirSyncBase:Data", value="private notes"),
                                ),
                            ),
                        ),
                    ),
                ),
            ),
        )
    )


def test_item_data_is_redacted_but_its_field_names_and_the_protocol_stay() -> None:
    text = trace.render_body(_sync_with_a_contact(), "", items=False)
    assert "<SyncKey>7</SyncKey>" in text
    assert "<ClientId>c1</ClientId>" in text
    assert '<FirstName xmlns="Contacts:">[redacted]</FirstName>' in text
    assert "<Data>[redacted]</Data>" in text
    for secret in ("Wilhelmina", "wil@example.org", "private notes"):
        assert secret not in text


def test_trace_items_keeps_item_data() -> None:
    text = trace.render_body(_sync_with_a_contact(), "", items=True)
    assert '<FirstName xmlns="Contacts:">Wilhelmina</FirstName>' in text
    assert "private notes" in text


def test_a_comment_to_an_organizer_is_item_data() -> None:
    tree = E(
        "MeetingResponse:MeetingResponse",
        E(
            "MeetingResponse:Request",
            E("MeetingResponse:RequestId", value="3:1"),
            E(
                "MeetingResponse:SendResponse",
                E("AirSyncBase:Body", E("AirSyncBase:Data", value="late, sorry")),
            ),
        ),
    )
    text = trace.render_body(encode(tree), "", items=False)
    assert "late, sorry" not in text
    assert "<RequestId>3:1</RequestId>" in text


def test_passwords_in_a_body_are_redacted_even_with_items() -> None:
    tree = E("Settings:Settings", E("Settings:DevicePassword", E("Settings:Password", value="pw")))
    for items in (False, True):
        assert "pw<" not in trace.render_body(encode(tree), "", items=items)


def test_user_name_and_userinfo_of_the_url_are_redacted() -> None:
    url = "https://bob:pw@mail.example/Microsoft-Server-ActiveSync?Cmd=Sync&User=bob&DeviceId=D1"
    shown = trace.redact_url(url)
    assert "bob" not in shown
    assert "pw" not in shown
    assert "Cmd=Sync" in shown
    assert "DeviceId=D1" in shown
    assert "User=[redacted]" in shown


def test_credential_headers_keep_only_their_scheme() -> None:
    shown = dict(
        trace.redact_headers(
            {
                "Authorization": "Basic Ym9iOnB3",
                "Cookie": "session=abc",
                "Set-Cookie": "s=1",
                "MS-ASProtocolVersion": "16.1",
            }
        )
    )
    assert shown == {
        "Authorization": "Basic [redacted]",
        "Cookie": "[redacted]",
        "Set-Cookie": "[redacted]",
        "MS-ASProtocolVersion": "16.1",
    }


@pytest.mark.parametrize("scheme", ["Bearer", "NTLM", "Negotiate"])
def test_tokens_of_every_scheme_are_redacted(scheme: str) -> None:
    ((_, shown),) = trace.redact_headers({"authorization": f"{scheme} eyJ0eXAiOiJKV1Qi"})
    assert shown == f"{scheme} [redacted]"


def test_wbxml_that_does_not_decode_is_written_as_hex_with_the_error() -> None:
    broken = b"\x03\x01\x6a\x00\x45\x5c\x4f" + bytes(range(256)) * 3
    text = trace.render_body(broken, "application/vnd.ms-sync.wbxml", items=False)
    assert text.startswith("(WBXML that does not decode:")
    assert "03 01 6a 00 45" in text
    assert "more bytes left out" in text  # without --trace-items: only the start
    full = trace.render_body(broken, "application/vnd.ms-sync.wbxml", items=True)
    assert "left out" not in full


def test_an_html_page_is_written_as_text() -> None:
    page = b"<html><title>Horde :: Fatal Error</title></html>"
    assert "Horde :: Fatal Error" in trace.render_body(page, "text/html", items=False)


def _exchange() -> trace.Exchange:
    return trace.Exchange(
        method="POST",
        url="http://h/Microsoft-Server-ActiveSync?Cmd=Sync&User=bob&DeviceId=D1",
        request_headers={"Authorization": "Basic Ym9iOnB3"},
        request_body=_sync_with_a_contact(),
        status=200,
        response_headers={"Content-Type": "application/vnd.ms-sync.wbxml"},
        response_body=b"",
    )


def test_files_are_numbered_private_and_a_folder_goes_on_after_its_last_number(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "trace"
    first = trace.Tracer(folder).record(_exchange())
    assert first.name == "0001-Sync.txt"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    text = first.read_text()
    assert "HTTP 200" in text
    assert "Ym9iOnB3" not in text
    assert "User=[redacted]" in text
    # a second run in the same folder
    assert trace.Tracer(folder).record(_exchange()).name == "0002-Sync.txt"


def test_a_failed_request_is_traced_with_its_error(tmp_path: Path) -> None:
    failed = trace.Exchange("OPTIONS", "http://h/x", {}, None, error="Connection refused")
    text = trace.Tracer(tmp_path / "t").record(failed).read_text()
    assert "(no answer: Connection refused)" in text


def test_a_folder_with_other_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="holds other files"):
        trace.Tracer(tmp_path)
    assert (tmp_path / "notes.txt").exists()


def test_the_transport_traces_a_request_that_got_no_answer(tmp_path: Path) -> None:
    import socket

    from eassync.eas.auth import BasicAuth
    from eassync.eas.transport import RetryPolicy, Transport
    from eassync.errors import TransportError

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tracer = trace.Tracer(tmp_path / "t")
    transport = Transport(
        account="a",
        url=f"http://127.0.0.1:{port}/Microsoft-Server-ActiveSync",
        username="bob",
        device_id="D1",
        device_type="eassync",
        auth=BasicAuth("bob", "pw"),
        retry=RetryPolicy(attempts=1),
        tracer=tracer,
    )
    with pytest.raises(TransportError):
        transport.post("FolderSync", b"", version="16.1", policy_key=None)
    (written,) = (tmp_path / "t").iterdir()
    text = written.read_text()
    assert written.name == "0001-FolderSync.txt"
    assert "(no answer: " in text
    assert "User=[redacted]" in text
    assert "bob" not in text
