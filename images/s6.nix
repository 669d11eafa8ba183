# The original project's s6 image: a long-run service that fails without
# `restartOnFailure` stops the container, whose log then has the stage 3
# messages (`sending all processes the TERM signal`) and whose exit code is
# the service's. `podman run` it to see the three stages.
{
  image.name = "s6";
  s6.services.stopContainer.script = ''
    echo stopContainer
    exit 1
  '';
}
