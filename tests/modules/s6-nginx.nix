# nginx as an s6 long-run (no systemd shim): serves a page on port 80.
# `stubborn` leaves a TERM-ignoring process behind, so that stopping the
# container shows the grace time and the KILL of stage 3.
{ pkgs, ... }:
let
  site = pkgs.writeTextFile {
    name = "site";
    text = "served by nginx under s6\n";
    destination = "/index.html";
  };
  conf = pkgs.writeText "nginx.conf" ''
    error_log stderr;
    pid /tmp/nginx.pid;
    worker_processes 1;
    events { worker_connections 64; }
    http {
      access_log off;
      client_body_temp_path /tmp/nginx-body;
      proxy_temp_path /tmp/nginx-proxy;
      fastcgi_temp_path /tmp/nginx-fastcgi;
      uwsgi_temp_path /tmp/nginx-uwsgi;
      scgi_temp_path /tmp/nginx-scgi;
      server {
        listen 80;
        location / { root ${site}; default_type text/plain; }
      }
    }
  '';
in
{
  image.name = "s6-nginx";
  image.exposedPorts."80/tcp" = { };
  s6.graceTime = 1500;
  s6.services.nginx.execStart = ''${pkgs.nginx}/bin/nginx -e stderr -c ${conf} -g "daemon off;"'';
  s6.services.stubborn = {
    path = [ pkgs.busybox ];
    script = ''
      (trap "" TERM; exec sleep 1000) &
      exec sleep 1000
    '';
  };
}
