"""The commands a person runs by hand besides syncing: answering invitations
(``respond``), the address book search (``gal``), free/busy (``freebusy``) and the
out-of-office reply (``oof``). Logic between the CLI and the EAS client; no WBXML."""
