{ pkgs, ... }:
{
  image.name = "nginx";
  services.nginx = {
    enable = true;
    virtualHosts.localhost.root = pkgs.runCommand "www" { } "mkdir $out; echo plop > $out/plop";
  };
}
