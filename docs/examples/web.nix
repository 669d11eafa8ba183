{ pkgs, ... }:
let
  site = pkgs.writeTextFile {
    name = "site";
    destination = "/index.html";
    text = "hello from busybox httpd\n";
  };
in
{
  image = {
    name = "web";
    tag = "1.0";
    entryPoint = [ "${pkgs.busybox}/bin/httpd" "-f" "-p" "8080" "-h" "${site}" ];
    exposedPorts."8080/tcp" = { };
    env.LANG = "C.UTF-8";
  };
  environment.systemPackages = [ pkgs.busybox ];
}
