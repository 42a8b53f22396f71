"""Provision (MS-ASPROV; eas-protocol.md §3): two phases, temporary then permanent key.

Phase 1 (no PolicyKey in the Policy) hands out the policy document and a temporary
key; phase 2 acknowledges that key and gets the permanent one, which every later
command must carry in ``X-MS-PolicyKey``. A pending remote wipe is announced with
``<RemoteWipe/>`` and cleared when the client acknowledges it.
"""

from __future__ import annotations

import json
import secrets

from eassync.devserver.commands.context import Context
from eassync.eas.element import E, Element

POLICY_TYPE = "MS-EAS-Provisioning-WBXML"

# Provision and Policy status values (MS-ASPROV 2.2.2.54).
OK = 1
PROTOCOL_ERROR = 2
UNKNOWN_POLICY_TYPE = 3
WRONG_POLICY_KEY = 5
DEVICE_INFORMATION_REQUIRED = 165  # MS-ASCMD 2.2.2 (≥14.1: DeviceInformation is a MUST)


def new_policy_key() -> str:
    """A 32-bit unsigned decimal string, never 0 (0 means "not provisioned")."""
    return str(secrets.randbelow(2**32 - 1) + 1)


def policy_document() -> Element:
    """A permissive policy: nothing a command-line client would need to enforce."""
    doc = E("Provision:EASProvisionDoc")
    for name, value in (
        ("DevicePasswordEnabled", 0),
        ("AlphanumericDevicePasswordRequired", 0),
        ("PasswordRecoveryEnabled", 0),
        ("RequireStorageCardEncryption", 0),
        ("AttachmentsEnabled", 1),
        ("MinDevicePasswordLength", 1),
        ("MaxInactivityTimeDeviceLock", 0),
        ("MaxDevicePasswordFailedAttempts", 8),
        ("AllowSimpleDevicePassword", 1),
        ("AllowStorageCard", 1),
        ("AllowCamera", 1),
        ("RequireDeviceEncryption", 0),
        ("AllowDesktopSync", 1),
        ("MaxCalendarAgeFilter", 0),
        ("AllowHTMLEmail", 1),
        ("MaxEmailAgeFilter", 0),
    ):
        doc.add(f"Provision:{name}", value)
    return doc


def handle(ctx: Context, body: Element | None) -> Element | None:
    if body is None or body.tag != "Provision:Provision":
        return E("Provision:Provision", E("Provision:Status", value=PROTOCOL_ERROR))
    store = ctx.store

    wipe = body.find("Provision:RemoteWipe")
    if wipe is not None:
        # The client acknowledges the wipe (MS-ASPROV 3.1.5.1.2.2).
        store.wipe_acknowledged(ctx.user)
        return E("Provision:Provision", E("Provision:Status", value=OK))
    if store.wipe_pending(ctx.user):
        return E("Provision:Provision", E("Provision:Status", value=OK), E("Provision:RemoteWipe"))

    policy = body.find("Provision:Policies/Provision:Policy")
    if policy is None:
        return E("Provision:Provision", E("Provision:Status", value=PROTOCOL_ERROR))
    device_info = body.find("Settings:DeviceInformation")
    policy_type = policy.text("Provision:PolicyType")
    acked_key = policy.text("Provision:PolicyKey")

    if acked_key is None and ctx.at_least("14.1") and device_info is None:
        return E("Provision:Provision", E("Provision:Status", value=DEVICE_INFORMATION_REQUIRED))
    if ctx.settings.device_info_required:
        # Exchange Online: only Settings/DeviceInformation counts (issue 15)
        if store.device(ctx.user, ctx.device)["info"] is None:
            status = E("Provision:Status", value=DEVICE_INFORMATION_REQUIRED)
            return E("Provision:Provision", status)
        device_info = None  # the one from Settings stays

    response = E("Provision:Provision")
    if device_info is not None:
        fields = device_info.find("Settings:Set")
        info = {c.name: c.text() for c in (fields if fields is not None else device_info)}
        store.update_device(ctx.user, ctx.device, info=json.dumps(info))
        response.append(E("Settings:DeviceInformation", E("Settings:Status", value=OK)))
    response.add("Provision:Status", OK)
    answer = response.append(E("Provision:Policies")).append(E("Provision:Policy"))
    answer.add("Provision:PolicyType", policy_type or "")

    if policy_type != POLICY_TYPE:
        answer.add("Provision:Status", UNKNOWN_POLICY_TYPE)
        return response

    if acked_key is None:  # phase 1: hand out the document and a temporary key
        temp_key = new_policy_key()
        store.update_device(
            ctx.user, ctx.device, device_type=ctx.device_type, temp_policy_key=temp_key
        )
        answer.add("Provision:Status", OK)
        answer.add("Provision:PolicyKey", temp_key)
        answer.append(E("Provision:Data", policy_document()))
        return response

    # phase 2: the client acknowledges the temporary key
    device = store.device(ctx.user, ctx.device)
    if device["temp_policy_key"] is None or acked_key != device["temp_policy_key"]:
        answer.add("Provision:Status", WRONG_POLICY_KEY)
        return response
    permanent = new_policy_key()
    store.update_device(ctx.user, ctx.device, temp_policy_key=None, policy_key=permanent)
    answer.add("Provision:Status", OK)
    answer.add("Provision:PolicyKey", permanent)
    return response
