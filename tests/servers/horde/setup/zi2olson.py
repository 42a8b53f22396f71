"""Expand /usr/share/zoneinfo/tzdata.zi (zic's abbreviated source) into the Olson source
form Horde_Timezone parses, so CalDAV output gets TZIDs and VTIMEZONEs without network
access (horde-notes 3.8). Usage: python3 zi2olson.py tzdata.zi > tzdata.olson"""

from __future__ import annotations

import re
import sys

MON = {"Ja": "Jan", "F": "Feb", "Ap": "Apr", "Au": "Aug", "S": "Sep", "O": "Oct", "N": "Nov"}
MON["D"] = "Dec"
WD = {"M": "Mon", "Tu": "Tue", "W": "Wed", "Th": "Thu", "F": "Fri", "Sa": "Sat", "Su": "Sun"}


def day(d: str) -> str:  # lastSu -> lastSun, Su>=8 -> Sun>=8
    m = re.fullmatch(r"(last)?([A-Z][a-z]?)(([<>]=)\d+)?", d)
    return (m[1] or "") + WD.get(m[2], m[2]) + (m[3] or "") if m else d


def hm(x: str) -> str:  # 1 -> 1:00, 2s -> 2:00s (Horde's PHP 8 arithmetic needs minutes)
    return re.sub(r"^(-?\d+)([wsguz]?)$", r"\1:00\2", x)


def fmt(f: list[str], off: int, i: int) -> None:  # "%z" -> numeric name (Horde lacks %z)
    h, _, mm = f[off].lstrip("-").partition(":")
    sign = "-" if f[off][0] == "-" else "+"
    minutes = mm[:2] if mm[:2] not in ("", "00") else ""
    f[i] = f[i].replace("%z", sign + h.zfill(2) + minutes)


def until(f: list[str], i: int) -> None:  # f[i:] = year [month [day [time]]]
    for j, g in ((i + 1, lambda v: MON.get(v, v)), (i + 2, day), (i + 3, hm)):
        if len(f) > j:
            f[j] = g(f[j])


def main() -> None:
    out = []
    with open(sys.argv[1], encoding="utf-8") as source:
        lines = source.read().splitlines()
    for line in lines:
        f = line.split()
        if not f or f[0][0] == "#":
            continue
        if f[0] == "R":
            f[0], f[3] = "Rule", {"o": "only", "ma": "max"}.get(f[3], f[3])
            f[5], f[6], f[7] = MON.get(f[5], f[5]), day(f[6]), hm(f[7])
            if f[8] != "0":
                f[8] = hm(f[8])
        elif f[0] == "Z":
            f[0], f[2], f[3] = "Zone", hm(f[2]), hm(f[3])
            fmt(f, 2, 4)
            until(f, 5)
        elif f[0] == "L":
            f[0] = "Link"
        else:
            f[0], f[1] = hm(f[0]), hm(f[1])
            fmt(f, 0, 2)
            until(f, 3)
            f.insert(0, "")
        out.append("\t".join(f))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
