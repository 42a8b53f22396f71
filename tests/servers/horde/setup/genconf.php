<?php
/* Generate /etc/horde/<app>/conf.php for each app named on the command line from its
 * conf.xml defaults (as Horde's admin UI does), each ending with a require of
 * <overrides dir>/<app>-overrides.php. Run as root (it writes /etc/horde).
 * Usage: php genconf.php OVERRIDES_DIR APP...   (horde-notes 3.1) */
require_once '/usr/share/horde/lib/Application.php';
Horde_Registry::appInit('horde', array('authentication' => 'none', 'cli' => true, 'nocompress' => true));

/* Both tricks matter: fed the current conf.php, Horde_Config carries over text outside
 * CONFIG START/END and silently drops every key that differs from the default. */
class Harness_Config extends Horde_Config
{
    public function getPHPConfig()
    {
        $this->_oldConfig = '';
        return '';
    }
}

$dir = $argv[1];
foreach (array_slice($argv, 2) as $app) {
    $config = new Harness_Config($app);
    $php = $config->generatePHPConfig(new Horde_Variables(), array('x' => true));
    $php = preg_replace('/\?>\s*$/', '', $php);
    $php .= "\nrequire '" . $dir . '/' . $app . "-overrides.php';\n";
    $target = '/etc/horde/' . $app . '/conf.php';
    if (file_put_contents($target . '.new', $php) === false || !rename($target . '.new', $target)) {
        fwrite(STDERR, "cannot write $target\n");
        exit(1);
    }
}
