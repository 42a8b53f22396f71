"""load_config: typed result, defaults from the schema, and every problem with FILE:LINE:COL."""

from __future__ import annotations

import logging
import os
import textwrap
from pathlib import Path

import pytest

from eassync import paths
from eassync.config import Config, load_config
from eassync.configschema import defaults
from eassync.errors import ConfigError

MINIMAL = """\
accounts:
  work:
    url: https://mail.example.com/Microsoft-Server-ActiveSync
    username: alice
    password: {env: EASSYNC_TEST_PASSWORD}
storages:
  contacts:
    type: vdir
    path: ~/.contacts/work
pairs:
  work_contacts:
    account: work
    remote: {default: contacts}
    local: contacts
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    path.chmod(0o600)
    return path


def load(tmp_path: Path, text: str) -> Config:
    return load_config(write(tmp_path, text))


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return info.value.problems


def test_minimal_config_loads_with_defaults_from_the_schema(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL)
    acc = config.accounts["work"]
    assert acc.url == "https://mail.example.com/Microsoft-Server-ActiveSync"
    assert acc.login == "alice"
    assert acc.auth == defaults("account")["auth"] == "basic"
    assert acc.protocol_version == "auto"
    assert acc.verify is True
    assert acc.device_type == defaults("account")["device_type"]
    pair = config.pairs["work_contacts"]
    assert pair.conflict == "remote_wins"
    assert pair.direction == "both"
    assert pair.max_delete_ratio == 0.5
    assert pair.kind == "contacts"
    assert pair.selector == "default"
    assert config.storage_for(pair).fileext == ".vcf"
    assert config.account_for(pair) is acc
    assert config.path == tmp_path / "config.yaml"


def test_protocol_version_written_as_a_yaml_float_becomes_a_version_string(
    tmp_path: Path,
) -> None:
    config = load(
        tmp_path, MINIMAL.replace("username: alice", "username: alice\n    protocol_version: 14.0")
    )
    assert config.accounts["work"].protocol_version == "14.0"


def test_paths_expand_home_and_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CARDS", "cards")
    config = load(tmp_path, MINIMAL.replace("~/.contacts/work", "~/$CARDS/work"))
    assert config.storages["contacts"].path == tmp_path / "home" / "cards" / "work"


def test_unset_environment_variable_in_a_path_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_VAR_EASSYNC", raising=False)
    found = problems(tmp_path, MINIMAL.replace("~/.contacts/work", "$NO_SUCH_VAR_EASSYNC/x"))
    assert len(found) == 1
    assert "config.yaml:9:5: storages.contacts.path" in found[0]
    assert "NO_SUCH_VAR_EASSYNC" in found[0]


def test_status_dir_defaults_to_the_state_dir_and_the_config_value_is_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EASSYNC_STATE_DIR", raising=False)
    assert load(tmp_path, MINIMAL).general.status_dir == paths.state_dir()
    monkeypatch.setenv("HOME", str(tmp_path))
    config = load(tmp_path, "general:\n  status_dir: ~/state\n" + MINIMAL)
    assert config.general.status_dir == tmp_path / "state"


def test_eassync_state_dir_overrides_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EASSYNC_STATE_DIR", str(tmp_path / "override"))
    config = load(tmp_path, "general:\n  status_dir: /somewhere/else\n" + MINIMAL)
    assert config.general.status_dir == tmp_path / "override"


def test_watch_settings_come_from_general_watch_with_schema_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, MINIMAL).general.watch["heartbeat"] == 480
    config = load(tmp_path, "general:\n  watch: {heartbeat: 60, file_watching: false}\n" + MINIMAL)
    assert config.general.watch["heartbeat"] == 60
    assert config.general.watch["file_watching"] is False
    assert config.general.watch["interval"] == 300
    assert any(
        "general.watch.heartbeat" in p
        for p in problems(tmp_path, "general:\n  watch: {heartbeat: 0}\n" + MINIMAL)
    )


def test_watch_options_on_the_command_line_win_over_the_config(tmp_path: Path) -> None:
    from eassync.cli.watch import watch_options

    config = load(tmp_path, "general:\n  watch: {heartbeat: 60, debounce: 0.5}\n" + MINIMAL)
    options = watch_options(config.general.watch, heartbeat=30, debounce=None)
    assert (options.heartbeat, options.debounce, options.interval) == (30, 0.5, 300)
    assert watch_options(config.general.watch, file_watching=False).file_watching is False


def test_default_config_path_comes_from_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EASSYNC_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "eassync").mkdir()
    write(tmp_path / "eassync", MINIMAL)
    assert load_config(None).path == tmp_path / "eassync" / "config.yaml"


def test_fileext_default_follows_the_pair_kind(tmp_path: Path) -> None:
    text = MINIMAL + textwrap.indent(
        textwrap.dedent("""\
        cal:
          account: work
          remote: {all: calendar}
          local: cal
        named:
          account: work
          remote: {folder: "Team tasks"}
          local: named
        explicit:
          account: work
          remote: {folder_id: "7", kind: tasks}
          local: explicit
        """),
        "  ",
    )
    text = text.replace(
        "pairs:",
        "  cal: {type: vdir, path: /tmp/c}\n  named: {type: vdir, path: /tmp/n}\n"
        "  explicit: {type: vdir, path: /tmp/e, fileext: .ICS}\npairs:",
    )
    config = load(tmp_path, text)
    assert config.storages["cal"].fileext == ".ics"
    assert config.pairs["cal"].many
    assert config.storages["named"].fileext is None  # the server will tell the kind
    assert config.storages["named"].fileext_for("contacts") == ".vcf"
    assert config.storages["explicit"].fileext == ".ICS"
    assert config.pairs["explicit"].kind == "tasks"
    assert dict(config.pairs["explicit"].remote) == {"folder_id": "7", "kind": "tasks"}


def test_conflict_typo_is_reported_with_file_line_column_and_choices(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + "    conflict: remote_win\n")
    assert found == [
        f"{tmp_path / 'config.yaml'}:15:5: pairs.work_contacts.conflict: 'remote_win' is not "
        "one of remote_wins, local_wins, keep_both, error, or a {command: [...]}"
    ]


def test_conflict_command_is_typed(tmp_path: Path) -> None:
    pair = load(tmp_path, MINIMAL + "    conflict: {command: [vimdiff]}\n").pairs["work_contacts"]
    assert pair.conflict == "command"
    assert pair.conflict_command == ("vimdiff",)


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL.replace("username: alice", "usernme: alice"))
    assert any(
        ":4:5: accounts.work.usernme: unknown key 'usernme'; did you mean 'username'" in p
        for p in found
    )


def test_keys_of_another_storage_type_are_unknown(tmp_path: Path) -> None:
    found = problems(
        tmp_path, MINIMAL.replace("path: ~/.contacts/work", "path: /x\n    url: https://x/")
    )
    assert len(found) == 1
    assert ":10:5: storages.contacts.url: unknown key 'url'" in found[0]


def test_every_problem_is_reported_at_once_in_document_order(tmp_path: Path) -> None:
    text = MINIMAL.replace("username: alice", "username: alice\n    auth: kerberos")
    text = text.replace("type: vdir", "type: vdri")
    text += "    direction: sideways\n    max_delete_ratio: 2\n"
    found = problems(tmp_path, text)
    assert [p.split(": ")[1] for p in found] == [
        "accounts.work.auth",
        "storages.contacts.type",
        "pairs.work_contacts.direction",
        "pairs.work_contacts.max_delete_ratio",
    ]
    assert "'kerberos' is not one of basic, ntlm, oauth2" in found[0]
    assert ":5:5:" in found[0]


def test_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    found = problems(
        tmp_path, MINIMAL.replace("username: alice", "username: alice\n    username: bob")
    )
    assert found == [
        f"{tmp_path / 'config.yaml'}:5:5: accounts.work.username: duplicate key 'username' "
        "(first at line 4, again at line 5)"
    ]


def test_yaml_syntax_error_has_file_and_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path, MINIMAL.replace("remote: {default: contacts}", "remote: {default: contacts")
    )
    assert len(found) == 1
    # where the unclosed "{" opens (line 13), not where PyYAML noticed (line 14)
    assert found[0].startswith(f"{tmp_path / 'config.yaml'}:13:13:")
    assert "in line 14, column 10" in found[0]


def test_missing_file_names_the_path_and_the_example(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert str(tmp_path / "nope.yaml") in str(info.value)
    assert info.value.hint is not None
    assert "eassync init" in info.value.hint
    assert info.value.exit_code == 2


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="empty"):
        load(tmp_path, "# nothing yet\n")


def test_top_level_must_be_a_mapping_with_the_three_sections(tmp_path: Path) -> None:
    found = problems(tmp_path, "accounts: {}\n")
    assert any("missing required key 'storages'" in p for p in found)
    assert any("missing required key 'pairs'" in p for p in found)


def test_pair_naming_missing_account_and_storage(tmp_path: Path) -> None:
    text = MINIMAL.replace("account: work", "account: home").replace(
        "local: contacts", "local: cards"
    )
    found = problems(tmp_path, text)
    assert len(found) == 2
    assert (
        ":12:5: pairs.work_contacts.account: no account named 'home' (accounts: work)" in found[0]
    )
    assert ":14:5: pairs.work_contacts.local: no storage named 'cards'" in found[1]


def test_a_storage_used_by_two_pairs(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + "  again:\n    account: work\n    remote: {default: contacts}\n    local: contacts\n"
    )
    found = problems(tmp_path, text)
    assert len(found) == 1
    assert (
        "pairs.again.local: storage 'contacts' is already used by pair 'work_contacts' (line 14)"
        in found[0]
    )


def test_all_folders_on_dav_needs_collection_all(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "type: vdir\n    path: ~/.contacts/work", "type: carddav\n    url: https://dav.example/"
    )
    text = text.replace("{default: contacts}", "{all: contacts}")
    found = problems(tmp_path, text)
    assert len(found) == 1
    assert "set collection: all" in found[0]
    fixed = text.replace(
        "url: https://dav.example/", "url: https://dav.example/\n    collection: all"
    )
    assert load(tmp_path, fixed).storages["contacts"].collection == "all"


def test_collection_all_needs_an_all_remote(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "type: vdir\n    path: ~/.contacts/work",
        "type: carddav\n    url: https://dav.example/\n    collection: all",
    )
    found = problems(tmp_path, text)
    assert len(found) == 1
    assert (
        "storages.contacts.collection: collection: all needs a pair with remote {all: KIND}"
        in found[0]
    )


def test_storage_type_must_hold_the_pair_kind(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "type: vdir\n    path: ~/.contacts/work", "type: caldav\n    url: https://dav.example/c/"
    )
    found = problems(tmp_path, text)
    assert len(found) == 1
    assert (
        "storage 'contacts' is caldav, which cannot hold contacts; use vdir or carddav" in found[0]
    )


def test_fileext_contradicting_the_kind(tmp_path: Path) -> None:
    found = problems(
        tmp_path, MINIMAL.replace("path: ~/.contacts/work", "path: /x\n    fileext: .ics")
    )
    assert len(found) == 1
    assert "storages.contacts.fileext: .ics files cannot hold contacts" in found[0]


def test_options_of_another_kind_and_unknown_time_zone(tmp_path: Path) -> None:
    text = MINIMAL + "    calendar_window: 2w\n    default_timezone: Mars/Olympus\n"
    found = problems(tmp_path, text)
    assert len(found) == 2
    assert "calendar_window: only applies to calendar pairs, this is contacts" in found[0]
    assert "'Mars/Olympus' is not a known IANA time zone" in found[1]


def test_basic_auth_needs_a_password_and_oauth_keys_need_oauth2(tmp_path: Path) -> None:
    text = MINIMAL.replace("    password: {env: EASSYNC_TEST_PASSWORD}\n", "    client_id: abc\n")
    found = problems(tmp_path, text)
    assert len(found) == 2
    assert "accounts.work: auth basic needs a password" in found[0]
    assert "accounts.work.client_id: only applies to auth: oauth2" in found[1]


def test_oauth2_account_needs_no_password(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    username: alice\n    password: {env: EASSYNC_TEST_PASSWORD}\n",
        "    email: alice@example.com\n    auth: oauth2\n    tenant: example.com\n",
    )
    acc = load(tmp_path, text).accounts["work"]
    assert acc.auth == "oauth2"
    assert acc.password is None
    assert acc.login == "alice@example.com"
    assert acc.tenant == "example.com"


def test_autodiscover_needs_email_instead_of_url(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    url: https://mail.example.com/Microsoft-Server-ActiveSync\n",
        "    autodiscover: true\n",
    )
    found = problems(tmp_path, text)
    assert len(found) == 1
    assert "accounts.work: missing required key 'email'" in found[0]
    acc = load(
        tmp_path, text.replace("autodiscover: true", "autodiscover: true\n    email: a@b.example")
    ).accounts["work"]
    assert acc.autodiscover
    assert acc.url is None


def test_bad_names_are_rejected(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL.replace("  work_contacts:", "  ../evil:"))
    assert len(found) == 1
    assert "pairs.../evil: '../evil' is not a name of letters" in found[0]


def test_yaml_anchors_and_merge_keys_work_and_own_keys_win(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "pairs:\n  work_contacts:\n    account: work\n",
        "pairs:\n  work_contacts:\n    <<: &common {account: work, direction: to_local}\n"
        "    direction: to_remote\n",
    )
    pair = load(tmp_path, text).pairs["work_contacts"]
    assert pair.account == "work"
    assert pair.direction == "to_remote"


def test_account_repr_never_shows_the_password(tmp_path: Path) -> None:
    text = MINIMAL.replace("{env: EASSYNC_TEST_PASSWORD}", "hunter2-secret")
    config = load(tmp_path, text)
    assert "hunter2" not in repr(config)
    assert "Secret(***)" in repr(config.accounts["work"])
    assert config.accounts["work"].password is not None
    assert config.accounts["work"].password.get() == "hunter2-secret"


def test_literal_password_in_a_readable_file_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, MINIMAL.replace("{env: EASSYNC_TEST_PASSWORD}", "hunter2"))
    with caplog.at_level(logging.WARNING):
        load_config(path)
    assert caplog.records == []
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING):
        load_config(path)
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert str(path) in message
    assert "chmod 600" in message
    assert "hunter2" not in message


def test_unknown_pair_name_lists_the_pairs(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL)
    with pytest.raises(ConfigError, match="pairs: work_contacts"):
        config.pair("nope")


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    text = MINIMAL.replace("~/.contacts/work", "cards/work").replace(
        "username: alice", "username: alice\n    verify: certs/ca.pem"
    )
    config = load(tmp_path, text)
    assert config.storages["contacts"].path == tmp_path / "cards" / "work"
    assert config.accounts["work"].verify == str(tmp_path / "certs" / "ca.pem")


def test_missing_url_suggests_autodiscover(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        MINIMAL.replace("    url: https://mail.example.com/Microsoft-Server-ActiveSync\n", ""),
    )
    assert len(found) == 1
    assert found[0].endswith(
        ":2:3: accounts.work: missing required key 'url' (or set autodiscover: true and email)"
    )


def test_secret_errors_point_at_the_password_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EASSYNC_TEST_PASSWORD", raising=False)
    secret = load(tmp_path, MINIMAL).accounts["work"].password
    assert secret is not None
    with pytest.raises(
        ConfigError, match=r"config\.yaml:5:5: accounts\.work\.password: environment"
    ):
        secret.get()


def test_names_are_taken_as_written_even_yaml_boolean_words(tmp_path: Path) -> None:
    """A storage or pair named ``on``/``no`` (YAML 1.1 booleans) keeps its name as a
    key; used unquoted as a value it is reported with a hint to quote it."""
    text = MINIMAL.replace("  contacts:\n", "  on:\n").replace("local: contacts", "local: 'on'")
    text = text.replace("  work_contacts:", "  no:").replace("  work:\n", "  2024:\n")
    text = text.replace("account: work", "account: '2024'")
    config = load(tmp_path, text)
    assert set(config.storages) == {"on"}
    assert set(config.pairs) == {"no"}
    assert set(config.accounts) == {"2024"}
    assert config.pairs["no"].local == "on"
    (problem,) = problems(tmp_path, text.replace("local: 'on'", "local: on"))
    assert "pairs.no.local" in problem
    assert ":14:" in problem
    assert "quote the name" in problem


# --- issue 16: local_changes of to_local pairs, the trash's expiry ------------------------


def test_local_changes_defaults_to_revert_as_the_man_page_says(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL + "    direction: to_local\n")
    assert config.pairs["work_contacts"].local_changes == "revert"
    assert defaults("pair")["local_changes"] == "revert"
    text = MINIMAL + "    direction: to_local\n    local_changes: ignore\n"
    assert load(tmp_path, text).pairs["work_contacts"].local_changes == "ignore"


def test_local_changes_is_one_of_three_and_only_for_to_local(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + "    direction: to_local\n    local_changes: keep\n")
    assert len(found) == 1
    assert (
        "pairs.work_contacts.local_changes: 'keep' is not one of revert, ignore, error"
        in (found[0])
    )
    found = problems(tmp_path, MINIMAL + "    local_changes: error\n")
    assert len(found) == 1
    assert (
        ":15:5: pairs.work_contacts.local_changes: only applies to direction: to_local"
        in (found[0])
    )


def test_trash_expiry_defaults_to_30_days(tmp_path: Path) -> None:
    assert load(tmp_path, MINIMAL).general.trash_expiry_days == 30
    text = "general:\n  trash_expiry_days: 0\n" + MINIMAL
    assert load(tmp_path, text).general.trash_expiry_days == 0
    found = problems(tmp_path, "general:\n  trash_expiry_days: -1\n" + MINIMAL)
    assert "general.trash_expiry_days" in found[0]
