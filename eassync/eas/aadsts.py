"""Microsoft Entra ID (Azure AD) sign-in errors: ``AADSTS<code>`` → what it means and
what to do, in a sentence each.

Microsoft's token endpoint answers a refused sign-in with ``error_description``
starting ``AADSTS<code>:`` (reference: learn.microsoft.com, "Microsoft Entra
authentication and authorization error codes"). Microsoft says the codes may change, so
an unknown code is shown as it came, with the link to look it up; never an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    code: str
    name: str
    meaning: str
    todo: str

    def sentence(self) -> str:
        return f"AADSTS{self.code} ({self.name}): {self.meaning}; {self.todo}"


_CONSENT_TODO = (
    "an administrator grants consent to the app in Entra ID (Enterprise applications, "
    "Permissions), or you accept the consent prompt in `eassync login`"
)
_CA_TODO = "ask your administrator which Conditional Access policy applies to this app and device"

#: code → (name, meaning, what to do)
KNOWN: dict[str, tuple[str, str, str]] = {
    "65001": (
        "consent required",
        "neither you nor an administrator has consented to let this app (client_id) use "
        "Exchange ActiveSync for your mailbox",
        _CONSENT_TODO,
    ),
    "65004": (
        "consent declined",
        "the consent prompt was declined",
        "run the login again and accept it, or ask an administrator to grant consent",
    ),
    "7000112": (
        "app disabled",
        "the app (client_id) is disabled in your organisation's tenant",
        "ask an administrator to enable it, or register your own app and set client_id",
    ),
    "700016": (
        "app not in tenant",
        "the app (client_id) is not known in this tenant: never added by an "
        "administrator, removed, or the tenant setting points at the wrong directory",
        "check client_id and tenant; an administrator may have to add the app",
    ),
    "53003": (
        "blocked by Conditional Access",
        "a Conditional Access policy of your organisation blocked this sign-in",
        _CA_TODO,
    ),
    "53000": (
        "device not compliant",
        "Conditional Access allows only managed, compliant devices",
        _CA_TODO,
    ),
    "53001": (
        "device not domain-joined",
        "Conditional Access allows only domain-joined devices",
        _CA_TODO,
    ),
    "53002": (
        "app not approved",
        "Conditional Access allows only approved client apps",
        _CA_TODO,
    ),
    "70011": (
        "invalid scope",
        "the permission (scope) requested is not valid for this app",
        "the app registration needs the delegated permission EAS.AccessAsUser.All of "
        "Office 365 Exchange Online",
    ),
    "50076": (
        "multi-factor authentication required",
        "the sign-in needs a second factor",
        "run `eassync login` again and complete it",
    ),
    "50079": (
        "multi-factor enrolment required",
        "your account must register for multi-factor authentication first",
        "register at https://aka.ms/mfasetup, then run `eassync login` again",
    ),
    "700082": (
        "sign-in expired",
        "the refresh token expired after a long time unused",
        "run `eassync login` again",
    ),
    "50126": (
        "wrong user name or password",
        "the password was refused",
        "run `eassync login` again",
    ),
    "50057": ("account disabled", "the user account is disabled", "ask your administrator"),
    "50053": (
        "account locked",
        "the account is locked after too many failed sign-ins",
        "wait, or ask your administrator to unlock it",
    ),
    "50055": ("password expired", "the password has expired", "change it, then sign in again"),
    "50020": (
        "account not in tenant",
        "the account comes from another directory or is a personal Microsoft account",
        "check the tenant setting (a personal account needs tenant: consumers)",
    ),
    "90002": (
        "tenant not found",
        "the tenant in the config does not exist",
        "check tenant (a directory id or a verified domain)",
    ),
    "7000218": (
        "public client flows off",
        "the app registration does not allow device-code sign-in",
        "in the app registration turn on 'Allow public client flows', or use another client_id",
    ),
    "500011": (
        "resource not in tenant",
        "Exchange Online is not available in this tenant",
        "check tenant; the organisation may have no Exchange Online licence",
    ),
}

_CODE = re.compile(r"AADSTS(\d{5,8})(?!\d)")


def codes(text: str) -> list[str]:
    """Every AADSTS code in ``text``, in order (``(?!\\d)``: no prefix matches)."""
    return _CODE.findall(text or "")


def explain(text: str) -> Explanation | None:
    """The first AADSTS code in ``text`` explained; unknown codes get the lookup link."""
    found = codes(text)
    if not found:
        return None
    for code in found:
        if code in KNOWN:
            return Explanation(code, *KNOWN[code])
    code = found[0]
    return Explanation(
        code,
        "sign-in refused",
        "Microsoft's sign-in service refused the request",
        f"look the code up at https://login.microsoftonline.com/error?code={code}",
    )
