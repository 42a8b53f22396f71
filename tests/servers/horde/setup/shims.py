"""Copy three classes of Debian's Horde 5.2 into SHIM_DIR with the PHP 8.2 fixes of
horde-notes 5 applied as exact text replacements (Debian's files stay untouched); each
pattern must match, else the installed version differs from the one these were made
for and we stop. Usage: python3 shims.py SHIM_DIR; then `php -l` each copy."""

from __future__ import annotations

import re
import sys
from pathlib import Path

CALC = "/usr/share/php/Date/Calc.php"
EVENT = "/usr/share/horde/kronolith/lib/Event.php"
EXCEPTION = "/usr/share/php/Horde/ActiveSync/Message/Exception.php"

SIXTEEN = "$options['protocolversion'] >= Horde_ActiveSync::VERSION_SIXTEEN"
#: the sixth fix is off for a user the tests made "stock" (prepend.php): Debian's code runs
FIXED = "!eassync_horde_stock()"

#: (file, old, new, expected count)
EVENT_FIXES = [
    # 2: at 16.x getLocation() is an AirSyncBaseLocation; strlen() on it is a TypeError
    (
        """        if (!$message->isGhosted('location') &&
            strlen($location = $message->getLocation())) {
            $this->location = $location;
        }""",
        """        if (!$message->isGhosted('location')) {
            $location = $message->getLocation();
            if (is_object($location)) {
                $location = $location->displayname;
            }
            if (strlen((string)$location)) {
                $this->location = (string)$location;
            }
        }""",
    ),
    # 3: at 16.x an omitted TimeZone is ghosted; a new event has no zone of its own
    (
        """        $tz = !$message->isGhosted('timezone')
            ? $message->getTimezone()
            : $this->timezone;
""",
        """        $tz = !$message->isGhosted('timezone')
            ? $message->getTimezone()
            : $this->timezone;
        if (empty($tz)) {
            $tz = date_default_timezone_get();
        }
""",
    ),
    # 6a: at 16.x an exception names its occurrence with InstanceId
    (
        "                $original = $rule->getExceptionStartTime();\n",
        "                $original = $message->getProtocolVersion()\n"
        "                    >= Horde_ActiveSync::VERSION_SIXTEEN\n"
        "                    && $rule->instanceid\n"
        f"                    && {FIXED}\n"
        "                    ? clone $rule->instanceid\n"
        "                    : $rule->getExceptionStartTime();\n",
    ),
    # 4: at 16.x a location goes out as AirSyncBase:Location with DisplayName
    (
        "            $message->setLocation($this->location);\n",
        "            $message->setLocation(self::eassyncLocation($this->location, $options));\n",
    ),
    (
        "                        $e->setLocation($exception->location);\n",
        "                        $e->setLocation(\n"
        "                            self::eassyncLocation($exception->location, $options));\n",
    ),
    (
        "    public function toASAppointment(array $options = array())\n",
        f"""    public static function eassyncLocation($location, array $options)
    {{
        if ({SIXTEEN} && strlen((string)$location)) {{
            $wrapped = new Horde_ActiveSync_Message_AirSyncBaseLocation(
                array('protocolversion' => $options['protocolversion']));
            $wrapped->displayname = $location;
            return $wrapped;
        }}
        return $location;
    }}

    public function toASAppointment(array $options = array())
""",
    ),
    # 6b: and sends InstanceId instead of ExceptionStartTime (modified, then deleted)
    (
        "                    $e->setExceptionStartTime($exception->exceptionoriginaldate);\n",
        f"""                    if ({SIXTEEN} && {FIXED}) {{
                        $e->instanceid = $exception->exceptionoriginaldate;
                    }} else {{
                        $e->setExceptionStartTime($exception->exceptionoriginaldate);
                    }}
""",
    ),
    (
        "                    $e->setExceptionStartTime($st);\n",
        f"""                    if ({SIXTEEN} && {FIXED}) {{
                        $e->instanceid = $st;
                    }} else {{
                        $e->setExceptionStartTime($st);
                    }}
""",
    ),
]

# 5: the >= 16.0 property map names a class as a bare (undefined) constant
EXCEPTION_FIXES = [
    (
        "self::KEY_TYPE => Horde_ActiveSync_Message_AirSyncBaseLocation)",
        "self::KEY_TYPE => 'Horde_ActiveSync_Message_AirSyncBaseLocation')",
    )
]


def replace_all(text: str, fixes: list[tuple[str, str]], name: str) -> str:
    for old, new in fixes:
        if text.count(old) != 1:
            sys.exit(f"shims: {name}: expected one {old.strip()[:70]!r}, found {text.count(old)}")
        text = text.replace(old, new)
    return text


def calc(text: str) -> str:
    # 1: Kronolith calls Date_Calc methods statically; PHP 8 refuses non-static ones
    fixed, count = re.subn(r"(?m)^    function ", "    public static function ", text)
    if count < 40:
        sys.exit(f"shims: {CALC}: only {count} methods made static")
    return fixed


def main() -> None:
    shim = Path(sys.argv[1])
    for source, target, patch in (
        (CALC, "Date/Calc.php", calc),
        (EVENT, "Kronolith/Event.php", lambda t: replace_all(t, EVENT_FIXES, EVENT)),
        (
            EXCEPTION,
            "Horde/ActiveSync/Message/Exception.php",
            lambda t: replace_all(t, EXCEPTION_FIXES, EXCEPTION),
        ),
    ):
        path = shim / target
        path.parent.mkdir(parents=True, exist_ok=True)
        text = patch(Path(source).read_text(encoding="utf-8"))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)


if __name__ == "__main__":
    main()
