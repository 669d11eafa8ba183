# The fixture both sides of the init spec contract test against: the
# L3 test checks that this module evaluates to spec.json (store paths
# normalised), the Rust golden test generates from spec.json and compares
# with generated.txt. Refresh with tests/golden/s6/refresh.
{ pkgs, ... }:
{
  image.name = "s6-fixture";
  users.users.app = {
    isSystemUser = true;
    group = "app";
  };
  users.groups.app = { };
  s6 = {
    graceTime = 5000;
    exitCodeFrom = "smoke";
    services = {
      migrate = {
        type = "oneshot-pre";
        script = "echo migrating";
        after = [ "prepare" ];
      };
      prepare = {
        type = "oneshot-pre";
        execStart = "${pkgs.coreutils}/bin/mkdir -p /var/lib/app";
      };
      db = {
        execStart = "${pkgs.busybox}/bin/sleep 1000";
        notificationFd = 3;
        stopSignal = "SIGINT";
        stopTimeout = 10000;
        user = "app";
      };
      web = {
        execStart = ''${pkgs.nginx}/bin/nginx -g "daemon off;"'';
        after = [ "db" ];
        restartOnFailure = true;
        restartDelay = 100;
        restartLimit = 5;
        execLogger = "${pkgs.busybox}/bin/sed -u 's/^/web: /'";
        environment = {
          LANG = "C.UTF-8";
          UNSET = null;
        };
        path = [ pkgs.busybox ];
        workingDirectory = "/var/lib/app";
        preStart = "test -d /var/lib/app";
        group = "app";
      };
      smoke = {
        type = "oneshot-post";
        script = "wget -q -O- http://127.0.0.1/";
        path = [ pkgs.busybox ];
      };
      off = {
        enable = false;
        script = "exit 1";
      };
    };
  };
}
