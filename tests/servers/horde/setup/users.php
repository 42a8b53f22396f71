<?php
/* Create or update Horde users (table horde_users, ssha). Run as www-data.
 * Usage: php users.php USER:PASSWORD...   (horde-notes 3.4) */
require_once '/usr/share/horde/lib/Application.php';
Horde_Registry::appInit('horde', array('authentication' => 'none', 'cli' => true));
$auth = $GLOBALS['injector']->getInstance('Horde_Core_Factory_Auth')->create();
foreach (array_slice($argv, 1) as $entry) {
    list($user, $password) = explode(':', $entry, 2);
    if ($auth->exists($user)) {
        $auth->updateUser($user, $user, array('password' => $password));
    } else {
        $auth->addUser($user, array('password' => $password));
    }
}
