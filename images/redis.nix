# NixOS' own redis module in an image, unchanged (nix/nixos-modules.nix):
# the unnamed server `services.redis.servers.""` as NixOS runs it, as the
# `redis` user, ready when redis says so on the notify socket.
# `podman run -p 6379:6379 redis` then `redis-cli ping` answers PONG;
# the container's own `redis-cli` works too (`podman exec`).
{
  image = {
    name = "redis";
    exposedPorts."6379/tcp" = { };
  };
  services.redis.servers."" = {
    enable = true;
    # All addresses of the container, password or not: the container's
    # network is the boundary (publish the port to choose who reaches it).
    bind = null;
    settings.protected-mode = "no";
  };
}
