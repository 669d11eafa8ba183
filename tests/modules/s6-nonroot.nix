# Services of a container started as a non-root user (`--user`), with a
# read-only root: everything runs as that user, the state is under /tmp.
# The container exits with the oneshot-post's code once the daemon is ready.
{ pkgs, ... }:
{
  image.name = "s6-nonroot";
  s6.exitCodeFrom = "check";
  s6.services = {
    pre = {
      type = "oneshot-pre";
      path = [ pkgs.busybox ];
      script = "echo pre: uid=$(id -u)";
    };
    daemon = {
      path = [ pkgs.busybox ];
      notificationFd = 3;
      script = ''
        echo daemon: uid=$(id -u)
        echo >&3
        exec sleep 1000
      '';
    };
    check = {
      type = "oneshot-post";
      after = [ "daemon" ];
      script = "echo check: daemon is up";
    };
  };
}
