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

    /* True for a user the tests made "stock" (a file etc/stock-exceptions/<user> in the
     * harness directory): the sixth fix of shims.py is off for that user's requests, so
     * Horde treats 16.x exceptions as Debian's unpatched Horde does (notes 5). */
    function eassync_horde_stock()
    {
        static $stock = null;
        if ($stock === null) {
            $user = isset($_SERVER['PHP_AUTH_USER']) ? $_SERVER['PHP_AUTH_USER'] : '';
            $auth = isset($_SERVER['HTTP_AUTHORIZATION']) ? $_SERVER['HTTP_AUTHORIZATION'] : '';
            if ($user === '' && preg_match('/^Basic\s+(\S+)/i', $auth, $m)) {
                $user = explode(':', (string)base64_decode($m[1]), 2)[0];
            }
            $dir = dirname(__DIR__) . '/etc/stock-exceptions/';
            $stock = $user !== '' && is_file($dir . basename($user));
        }
        return $stock;
    }
}
