<?php
/* Router of `php -S` (horde-notes 4): Apache's "Alias /Microsoft-Server-ActiveSync
 * /usr/share/horde/rpc.php". php -S applies auto_prepend_file to the scripts it serves,
 * not to the router, so the shim loader is required here first. */
require_once getenv('HORDE_SHIM_LOADER');
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if (preg_match('#^/Microsoft-Server-ActiveSync/?$#i', $path)
    || preg_match('#^/autodiscover/autodiscover\.xml$#i', $path)) {
    $_SERVER['SCRIPT_FILENAME'] = '/usr/share/horde/rpc.php';
    $_SERVER['SCRIPT_NAME'] = '/rpc.php';
    $_SERVER['PHP_SELF'] = '/rpc.php';
    chdir('/usr/share/horde');
    require '/usr/share/horde/rpc.php';
    return true;
}
return false;  // /rpc.php/calendars/..., /rpc.php/addressbooks/... (DAV): served as is
