# Every `image` option set, for the inspect and behaviour tests.
{ pkgs, ... }:
{
  image = {
    name = "options";
    tag = "v1";
    entryPoint = [
      "${pkgs.busybox}/bin/sh"
      "-c"
      ''
        if [ "$1" = serve ]; then exec sleep 60; fi
        echo "greeting=$GREETING"
        echo "pwd=$(pwd)"
        echo "uid=$(id -u) gid=$(id -g)"
        echo "args=$*"
      ''
      "entrypoint"
    ];
    cmd = [ "default-arg" ];
    env = {
      GREETING = "hello world";
      ZZ_LAST = "z";
      AA_FIRST = 1;
      TOOL = pkgs.hello;
    };
    workingDir = "/srv/app";
    user = "1234:4321";
    exposedPorts."8080/tcp" = { };
    volumes."/data" = { };
    labels."org.example.purpose" = "tests";
    stopSignal = "SIGQUIT";
  };
}
