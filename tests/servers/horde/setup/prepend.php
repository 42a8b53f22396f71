<?php
/* Loads the harness's patched copies of three Horde/PEAR classes ahead of Debian's
 * (setup/shims.py, horde-notes 5). The shim directory goes first on the include path
 * too, so that Date.php's require_once 'Date/Calc.php' finds the same copy. */
if (!defined('EASSYNC_HORDE_SHIMS')) {
    define('EASSYNC_HORDE_SHIMS', __DIR__);
    set_include_path(__DIR__ . PATH_SEPARATOR . get_include_path());
    spl_autoload_register(function ($class) {
        $map = array(
            'Date_Calc' => 'Date/Calc.php',
            'Kronolith_Event' => 'Kronolith/Event.php',
            'Horde_ActiveSync_Message_Exception' => 'Horde/ActiveSync/Message/Exception.php',
        );
        if (isset($map[$class])) {
            require_once __DIR__ . '/' . $map[$class];
        }
    }, true, true);
}
