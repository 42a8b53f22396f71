"""Pure tests of the EAS request builders and response parsers (no sockets)."""

from __future__ import annotations

import pytest

from eassync.eas import commands as c
from eassync.eas import wbxml
from eassync.eas.element import E
from eassync.errors import ProtocolError


def app(*children):
    return E("AirSync:ApplicationData", *children)


# --- byte examples of eas-protocol.md §1.1 ----------------------------------------------


def test_initial_folder_sync_bytes_match_the_spec_example():
    assert wbxml.encode(c.build_folder_sync("0")) == bytes.fromhex("03016A0000075652033000 0101")


def test_sync_request_start_bytes_match_the_spec_example():
    req = c.CollectionRequest("2", "1", get_changes=True, options=c.SyncOptions())
    data = wbxml.encode(c.build_sync([req], "14.1"))
    expected_prefix = bytes.fromhex("03016A00455C4F4B03310001520332000113550335313200015758")
    assert data.startswith(expected_prefix)
    # FilterType 0, then SWITCH_PAGE 0x11 (AirSyncBase) for BodyPreference
    assert data[len(expected_prefix) :].startswith(bytes.fromhex("0330000100114546"))


# --- folders ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder_type", "expected"),
    [
        (9, "Contacts"),
        (14, "Contacts"),
        (8, "Calendar"),
        (13, "Calendar"),
        (7, "Tasks"),
        (15, "Tasks"),
        (10, "Notes"),
        (17, "Notes"),
        (2, "Email"),
        (6, "Email"),
        (12, "Email"),
        (19, None),  # Recipient Information Cache: never mirrored
        (1, None),
        (11, None),
        (18, None),
    ],
)
def test_folder_class_follows_the_type_table(folder_type, expected):
    assert c.folder_class(folder_type) == expected


def test_parse_folder_sync_reads_adds_updates_deletes():
    root = E(
        "FolderHierarchy:FolderSync",
        E("FolderHierarchy:Status", value="1"),
        E("FolderHierarchy:SyncKey", value="vm_1c93_30b50d11_1"),
        E(
            "FolderHierarchy:Changes",
            E("FolderHierarchy:Count", value="3"),
            E(
                "FolderHierarchy:Add",
                E("FolderHierarchy:ServerId", value="vcard%2Fpersonal"),
                E("FolderHierarchy:ParentId", value="0"),
                E("FolderHierarchy:DisplayName", value="Personal Address Book"),
                E("FolderHierarchy:Type", value="9"),
            ),
            E(
                "FolderHierarchy:Update",
                E("FolderHierarchy:ServerId", value="cal"),
                E("FolderHierarchy:ParentId", value="0"),
                E("FolderHierarchy:DisplayName", value="Renamed"),
                E("FolderHierarchy:Type", value="13"),
            ),
            E("FolderHierarchy:Delete", E("FolderHierarchy:ServerId", value="gone")),
        ),
    )
    result = c.parse_folder_sync(root)
    assert result.status == 1
    assert result.sync_key == "vm_1c93_30b50d11_1"
    assert result.added == [
        c.Folder("vcard%2Fpersonal", "0", "Personal Address Book", 9, "Contacts")
    ]
    assert result.updated == [c.Folder("cal", "0", "Renamed", 13, "Calendar")]
    assert result.deleted == ["gone"]


def test_parse_folder_sync_status_9_without_changes():
    root = E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", value="9"))
    result = c.parse_folder_sync(root)
    assert (result.status, result.sync_key, result.added) == (9, None, [])


def test_parser_rejects_the_wrong_root():
    with pytest.raises(ProtocolError):
        c.parse_folder_sync(E("AirSync:Sync"))


# --- provisioning -----------------------------------------------------------------------


def test_provision_request_14_1_carries_device_information_first():
    info = c.DeviceInfo(model="eassync", friendly_name="eassync on h", os="Linux", user_agent="ua")
    assert c.build_provision_request("14.1", info) == E(
        "Provision:Provision",
        E(
            "Settings:DeviceInformation",
            E(
                "Settings:Set",
                E("Settings:Model", value="eassync"),
                E("Settings:FriendlyName", value="eassync on h"),
                E("Settings:OS", value="Linux"),
                E("Settings:UserAgent", value="ua"),
            ),
        ),
        E(
            "Provision:Policies",
            E("Provision:Policy", E("Provision:PolicyType", value="MS-EAS-Provisioning-WBXML")),
        ),
    )


@pytest.mark.parametrize("version", ["12.1", "14.0"])
def test_provision_request_before_14_1_has_no_device_information(version):
    root = c.build_provision_request(version, c.DeviceInfo())
    assert root.find("Settings:DeviceInformation") is None
    assert root.text("Provision:Policies/Provision:Policy/Provision:PolicyType") == (
        "MS-EAS-Provisioning-WBXML"
    )


def test_provision_ack_puts_policy_key_before_status():
    policy = c.build_provision_ack("1234").find("Provision:Policies/Provision:Policy")
    assert policy is not None
    assert [ch.name for ch in policy] == ["PolicyType", "PolicyKey", "Status"]
    assert policy.text("Provision:PolicyKey") == "1234"
    assert policy.text("Provision:Status") == "1"


def test_wipe_ack():
    assert c.build_wipe_ack() == E(
        "Provision:Provision", E("Provision:RemoteWipe", E("Provision:Status", value="1"))
    )


def provision_answer(status, policy_status, key=None, *extra):
    policy = E(
        "Provision:Policy",
        E("Provision:PolicyType", value=c.POLICY_TYPE),
        E("Provision:Status", value=str(policy_status)),
        E("Provision:PolicyKey", value=key) if key else None,
    )
    return E(
        "Provision:Provision",
        E("Provision:Status", value=str(status)) if status is not None else None,
        E("Provision:Policies", policy),
        *extra,
    )


def test_parse_provision_ok_with_key():
    result = c.parse_provision(provision_answer(1, 1, "3942919513"))
    assert result.ok
    assert (result.policy_status, result.policy_key, result.remote_wipe) == (1, "3942919513", False)


def test_parse_provision_without_top_level_status_is_ok_when_policy_is_1():
    # Tencent Exmail omits Provision/Status (EAS-4-TbSync #337)
    assert c.parse_provision(provision_answer(None, 1, "7")).ok
    assert not c.parse_provision(provision_answer(None, 3)).ok


def test_parse_provision_sogo_no_policy():
    result = c.parse_provision(provision_answer(1, 2))
    assert result.ok
    assert (result.policy_status, result.policy_key) == (2, None)


def test_parse_provision_remote_wipe():
    root = E("Provision:Provision", E("Provision:Status", value="1"), E("Provision:RemoteWipe"))
    assert c.parse_provision(root).remote_wipe


# --- Sync -------------------------------------------------------------------------------


def test_collection_children_follow_the_strict_order():
    req = c.CollectionRequest(
        "col",
        "0",
        get_changes=True,  # dropped: GetChanges with SyncKey 0 is Status 4
        window_size=100,
        options=c.SyncOptions(filter_type=0, body_type=1, truncation_size=5000, conflict=1),
        supported=["Contacts:FirstName", "Contacts:LastName"],
    )
    assert c.build_collection(req, "14.1") == E(
        "AirSync:Collection",
        E("AirSync:SyncKey", value="0"),
        E("AirSync:CollectionId", value="col"),
        E("AirSync:Supported", E("Contacts:FirstName"), E("Contacts:LastName")),
        E("AirSync:WindowSize", value="100"),
        E(
            "AirSync:Options",
            E("AirSync:FilterType", value="0"),
            E("AirSync:Conflict", value="1"),
            E(
                "AirSyncBase:BodyPreference",
                E("AirSyncBase:Type", value="1"),
                E("AirSyncBase:TruncationSize", value="5000"),
            ),
        ),
    )


def test_supported_is_only_sent_with_sync_key_0():
    req = c.CollectionRequest("col", "17", supported=["Contacts:FirstName"])
    assert c.build_collection(req, "14.1").find("AirSync:Supported") is None


#: AirSync code page 0: Supported without (0x20) and with (0x60) content, WindowSize
EMPTY_SUPPORTED, SUPPORTED_WITH_CONTENT, WINDOW_SIZE_WITH_CONTENT = 0x20, 0x60, 0x55


def _priming_bytes(supported: list[str], version: str) -> bytes:
    req = c.CollectionRequest("col", "0", options=c.SyncOptions(), supported=supported)
    return wbxml.encode(c.build_sync([req], version))


def _after_collection_id(data: bytes) -> int:
    """The token that follows ``<CollectionId>col</CollectionId>`` in the request."""
    marker = bytes([0x52, 0x03]) + b"col" + bytes([0x00, 0x01])
    return data[data.index(marker) + len(marker)]


@pytest.mark.parametrize("version", ["2.5", "12.0", "12.1", "14.0", "14.1", "16.0", "16.1"])
def test_first_sync_of_a_folder_never_carries_an_empty_supported(version):
    # Horde 5.2 swallows the element after an empty <Supported/> (Status 4 for tasks
    # at every version, issue 15): an empty list is sent as no Supported at all.
    from eassync.convert.calendar import HANDLER as CALENDAR
    from eassync.convert.contacts import HANDLER as CONTACTS
    from eassync.convert.tasks import HANDLER as TASKS

    contacts = _priming_bytes(CONTACTS.supported(version), version)
    calendar = _priming_bytes(CALENDAR.supported(version), version)
    tasks = _priming_bytes(TASKS.supported(version), version)
    # Contacts at every version (MS-ASCMD 2.2.3.179) …
    assert _after_collection_id(contacts) == SUPPORTED_WITH_CONTENT
    supported = wbxml.decode(contacts).find(
        "AirSync:Collections/AirSync:Collection/AirSync:Supported"
    )
    assert supported is not None
    assert "Contacts:FirstName" in {e.tag for e in supported.children}
    # … Calendar up to 14.1; from 16.0 every absent top-level calendar element is
    # ghosted anyway (MS-ASCAL 3.1.5.3) …
    if version.startswith("16"):
        assert _after_collection_id(calendar) == WINDOW_SIZE_WITH_CONTENT
    else:
        assert _after_collection_id(calendar) == SUPPORTED_WITH_CONTENT
    # … never Tasks (Supported names contact and calendar elements only)
    assert _after_collection_id(tasks) == WINDOW_SIZE_WITH_CONTENT


def test_an_empty_supported_list_sends_no_supported_element():
    data = _priming_bytes([], "14.1")
    assert _after_collection_id(data) == WINDOW_SIZE_WITH_CONTENT
    assert EMPTY_SUPPORTED not in data.split(b"col", 1)[1][:3]
    assert (
        wbxml.decode(data).find("AirSync:Collections/AirSync:Collection/AirSync:Supported") is None
    )


def test_collection_with_commands_in_order():
    data = app(E("Contacts:FirstName", value="Ada"))
    req = c.CollectionRequest(
        "col",
        "5",
        get_changes=False,
        window_size=9999,
        commands=[
            c.ClientCommand.add("c1", data),
            c.ClientCommand.change("s1", data),
            c.ClientCommand.delete("s2"),
            c.ClientCommand.fetch("s3"),
        ],
    )
    assert c.build_collection(req, "14.1") == E(
        "AirSync:Collection",
        E("AirSync:SyncKey", value="5"),
        E("AirSync:CollectionId", value="col"),
        E("AirSync:DeletesAsMoves", value="0"),
        E("AirSync:GetChanges", value="0"),
        E("AirSync:WindowSize", value="512"),  # clamped to the maximum
        E(
            "AirSync:Commands",
            E("AirSync:Add", E("AirSync:ClientId", value="c1"), data),
            E("AirSync:Change", E("AirSync:ServerId", value="s1"), data),
            E("AirSync:Delete", E("AirSync:ServerId", value="s2")),
            E("AirSync:Fetch", E("AirSync:ServerId", value="s3")),
        ),
    )


def test_instance_id_only_from_16_0():
    cmd = c.ClientCommand.delete("s", instance_id="20260101T100000Z")
    req = c.CollectionRequest("col", "5", commands=[cmd])
    old = c.build_collection(req, "14.1").find("AirSync:Commands/AirSync:Delete")
    new = c.build_collection(req, "16.1").find("AirSync:Commands/AirSync:Delete")
    assert old is not None
    assert new is not None
    assert old.find("AirSyncBase:InstanceId") is None
    assert new.text("AirSyncBase:InstanceId") == "20260101T100000Z"


def test_add_needs_application_data_element():
    with pytest.raises(ValueError, match="ApplicationData"):
        c.build_collection(
            c.CollectionRequest(
                "x", "1", commands=[c.ClientCommand.add("c", E("Contacts:FirstName"))]
            ),
            "14.1",
        )


def test_sync_level_wait_and_heartbeat():
    req = c.CollectionRequest("col", "5")
    assert c.build_sync([req], "14.1", heartbeat=600).text("AirSync:HeartbeatInterval") == "600"
    assert c.build_sync([req], "12.1", wait=5).text("AirSync:Wait") == "5"
    with pytest.raises(ValueError):
        c.build_sync([req], "14.1", wait=5, heartbeat=600)
    with pytest.raises(ValueError):
        c.build_sync([req], "12.1", heartbeat=600)


def test_parse_sync_commands_and_responses():
    data = app(E("Contacts:FirstName", value="Ada"))
    root = E(
        "AirSync:Sync",
        E(
            "AirSync:Collections",
            E(
                "AirSync:Collection",
                E("AirSync:SyncKey", value="1795479059"),
                E("AirSync:CollectionId", value="vcard%2Fpersonal"),
                E("AirSync:Status", value="1"),
                E("AirSync:MoreAvailable", value=""),  # SOGo sends it empty (Q16)
                E(
                    "AirSync:Commands",
                    E("AirSync:Add", E("AirSync:ServerId", value="a.vcf"), data),
                    E(
                        "AirSync:Change",
                        E("AirSync:ServerId", value="b"),
                        E("AirSyncBase:InstanceId", value="i1"),
                        data,
                    ),
                    E("AirSync:Delete", E("AirSync:ServerId", value="c")),
                    E("AirSync:SoftDelete", E("AirSync:ServerId", value="d")),
                ),
                E(
                    "AirSync:Responses",
                    E(
                        "AirSync:Add",
                        E("AirSync:ClientId", value="c1"),
                        E("AirSync:ServerId", value="new.vcf"),
                        E("AirSync:Status", value="1"),
                    ),
                    E(
                        "AirSync:Change",
                        E("AirSync:ServerId", value="x"),
                        E("AirSync:Status", value="7"),
                    ),
                    E(
                        "AirSync:Fetch",
                        E("AirSync:ServerId", value="f"),
                        E("AirSync:Status", value="1"),
                        data,
                    ),
                ),
            ),
        ),
    )
    parsed = c.parse_sync(root)
    assert parsed.status is None
    assert parsed.collections == [
        c.CollectionResponse(
            collection_id="vcard%2Fpersonal",
            sync_key="1795479059",
            status=1,
            more_available=True,
            commands=[
                c.ServerCommand("add", "a.vcf", data, None),
                c.ServerCommand("change", "b", data, "i1"),
                c.ServerCommand("delete", "c", None, None),
                c.ServerCommand("softdelete", "d", None, None),
            ],
            responses=[
                c.CommandResponse("add", "c1", "new.vcf", 1, None),
                c.CommandResponse("change", None, "x", 7, None),
                c.CommandResponse("fetch", None, "f", 1, data),
            ],
        )
    ]


def test_parse_sync_global_status_and_limit():
    root = E("AirSync:Sync", E("AirSync:Status", value="14"), E("AirSync:Limit", value="60"))
    parsed = c.parse_sync(root)
    assert (parsed.status, parsed.limit, parsed.collections) == (14, 60, [])


# --- GetItemEstimate, ItemOperations, Ping, Settings ------------------------------------


def test_get_item_estimate_14():
    entries = [c.EstimateRequest("col", "5", 0, "Contacts")]
    assert c.build_get_item_estimate(entries, "14.1") == E(
        "GetItemEstimate:GetItemEstimate",
        E(
            "GetItemEstimate:Collections",
            E(
                "GetItemEstimate:Collection",
                E("AirSync:SyncKey", value="5"),
                E("GetItemEstimate:CollectionId", value="col"),
                E("AirSync:Options", E("AirSync:FilterType", value="0")),
            ),
        ),
    )


def test_get_item_estimate_12_1_uses_class_and_old_order():
    entries = [c.EstimateRequest("col", "5", 0, "Calendar")]
    coll = c.build_get_item_estimate(entries, "12.1").find(
        "GetItemEstimate:Collections/GetItemEstimate:Collection"
    )
    assert coll is not None
    assert [ch.tag for ch in coll] == [
        "GetItemEstimate:Class",
        "GetItemEstimate:CollectionId",
        "AirSync:FilterType",
        "AirSync:SyncKey",
    ]


def test_parse_get_item_estimate():
    def resp(status, cid, estimate=None):
        return E(
            "GetItemEstimate:Response",
            E("GetItemEstimate:Status", value=str(status)),
            E(
                "GetItemEstimate:Collection",
                E("GetItemEstimate:CollectionId", value=cid),
                E("GetItemEstimate:Estimate", value=estimate) if estimate else None,
            ),
        )

    root = E("GetItemEstimate:GetItemEstimate", resp(1, "a", "42"), resp(3, "b"))
    assert c.parse_get_item_estimate(root) == [
        c.Estimate("a", 1, 42),
        c.Estimate("b", 3, None),
    ]


def test_fetch_item_request():
    assert c.build_fetch_item("col", "sid", 2) == E(
        "ItemOperations:ItemOperations",
        E(
            "ItemOperations:Fetch",
            E("ItemOperations:Store", value="Mailbox"),
            E("AirSync:CollectionId", value="col"),
            E("AirSync:ServerId", value="sid"),
            E(
                "ItemOperations:Options",
                E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", value="2")),
            ),
        ),
    )


def test_parse_item_operations_and_attachment_data():
    props = E(
        "ItemOperations:Properties",
        E("AirSyncBase:ContentType", value="text/plain"),
        E("ItemOperations:Data", value="aGVsbG8="),
    )
    root = E(
        "ItemOperations:ItemOperations",
        E("ItemOperations:Status", value="1"),
        E(
            "ItemOperations:Response",
            E(
                "ItemOperations:Fetch",
                E("ItemOperations:Status", value="1"),
                E("AirSyncBase:FileReference", value="att1"),
                props,
            ),
        ),
    )
    result = c.parse_item_operations(root)
    assert result.status == 1
    assert result.fetches == [c.FetchResult(1, None, "att1", props)]
    assert c.attachment_bytes(props) == (b"hello", "text/plain")


def test_ping_request_and_empty_ping():
    assert c.build_ping(None, None) is None
    assert c.build_ping(480, [("col", "Contacts")]) == E(
        "Ping:Ping",
        E("Ping:HeartbeatInterval", value="480"),
        E(
            "Ping:Folders",
            E("Ping:Folder", E("Ping:Id", value="col"), E("Ping:Class", value="Contacts")),
        ),
    )


def test_parse_ping():
    root = E(
        "Ping:Ping",
        E("Ping:Status", value="2"),
        E("Ping:Folders", E("Ping:Folder", value="a"), E("Ping:Folder", value="b")),
    )
    assert c.parse_ping(root) == c.PingResult(2, ["a", "b"], None, None)
    root = E("Ping:Ping", E("Ping:Status", value="5"), E("Ping:HeartbeatInterval", value="300"))
    assert c.parse_ping(root) == c.PingResult(5, [], 300, None)


def test_user_information_14_1_accounts_form():
    root = E(
        "Settings:Settings",
        E("Settings:Status", value="1"),
        E(
            "Settings:UserInformation",
            E("Settings:Status", value="1"),
            E(
                "Settings:Get",
                E(
                    "Settings:Accounts",
                    E(
                        "Settings:Account",
                        E("Settings:UserDisplayName", value="Test User 1"),
                        E(
                            "Settings:EmailAddresses",
                            E("Settings:SMTPAddress", value="alias@example.test"),
                            E("Settings:PrimarySmtpAddress", value="user1@example.test"),
                        ),
                    ),
                ),
            ),
        ),
    )
    assert c.parse_settings_status(root, "UserInformation") == (1, 1)
    info = c.parse_user_information(root)
    assert info.display_name == "Test User 1"
    assert info.primary_smtp_address == "user1@example.test"
    assert info.addresses == ["alias@example.test", "user1@example.test"]


def test_user_information_old_form_takes_first_address_as_primary():
    root = E(
        "Settings:Settings",
        E(
            "Settings:UserInformation",
            E(
                "Settings:Get",
                E("Settings:EmailAddresses", E("Settings:SMTPAddress", value="a@b.c")),
            ),
        ),
    )
    info = c.parse_user_information(root)
    assert (info.display_name, info.primary_smtp_address, info.addresses) == (
        None,
        "a@b.c",
        ["a@b.c"],
    )


def test_top_level_status_of_any_command():
    assert c.top_level_status(E("Ping:Ping", E("Ping:Status", value="142"))) == 142
    assert c.top_level_status(E("AirSync:Sync", E("AirSync:Collections"))) is None


def test_built_requests_survive_a_wbxml_round_trip():
    data = app(E("Contacts:FirstName", value="Ada"), E("Contacts:Picture", value="QUJD"))
    req = c.build_sync(
        [c.CollectionRequest("col", "5", commands=[c.ClientCommand.add("c1", data)])], "16.1"
    )
    assert wbxml.decode(wbxml.encode(req)) == req
