# copyToRegistry against a real registry: Debian's docker-registry (the
# CNCF distribution registry), started on 127.0.0.1 with a free port and
# its own config, storage and access log in a temporary directory.

# Starts a registry; sets REG_DIR, REG_PORT, REG_PID. With "auth USER
# PASSWORD", basic authentication from an htpasswd file (bcrypt).
# Removes it on exit (the caller's trap calls stop_registry).
start_registry() {
  command -v docker-registry >/dev/null || skip "docker-registry is not installed (tests/setup installs it)"
  REG_DIR=$(mktemp -d)
  REG_PORT=$(python3 -c '
import random, socket
for p in random.sample(range(18100, 19000), 900):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); s.close(); print(p); break
    except OSError:
        s.close()')
  local auth=""
  if [ "${1:-}" = auth ]; then
    command -v htpasswd >/dev/null || skip "htpasswd is not installed (apache2-utils; tests/setup installs it)"
    htpasswd -Bbc "$REG_DIR/htpasswd" "$2" "$3" 2>/dev/null
    auth="auth:
  htpasswd:
    realm: nci-test
    path: $REG_DIR/htpasswd"
  fi
  # REG_TLS=1: HTTPS with a certificate for 127.0.0.1 signed by a CA
  # made here ($REG_DIR/ca.crt), trusted through $REG_DIR/certs.d.
  local tls="" scheme=http
  if [ "${REG_TLS:-}" = 1 ]; then
    make_tls_certs "$REG_DIR" "127.0.0.1:$REG_PORT"
    tls="  tls:
    certificate: $REG_DIR/server.crt
    key: $REG_DIR/server.key"
    scheme=https
  fi
  cat >"$REG_DIR/config.yml" <<EOC
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $REG_DIR/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REG_PORT
$tls
$auth
EOC
  # REG_STORAGE_SIZE=SIZE: the storage is a tmpfs of that size (root).
  if [ -n "${REG_STORAGE_SIZE:-}" ]; then
    mkdir "$REG_DIR/data"
    mount -t tmpfs -o "size=$REG_STORAGE_SIZE" tmpfs "$REG_DIR/data"
  fi
  # The push's compression cache, apart from the user's.
  export XDG_CACHE_HOME=$REG_DIR/cache
  docker-registry serve "$REG_DIR/config.yml" >"$REG_DIR/log" 2>&1 &
  REG_PID=$!
  local i
  for i in $(seq 1 100); do
    curl -s -o /dev/null ${tls:+--cacert "$REG_DIR/ca.crt"} "$scheme://127.0.0.1:$REG_PORT/v2/" && return 0
    kill -0 "$REG_PID" 2>/dev/null || { cat "$REG_DIR/log"; fail "the registry did not start"; }
    sleep 0.1
  done
  fail "the registry did not answer on 127.0.0.1:$REG_PORT"
}

# A CA and a server certificate for 127.0.0.1 signed by it, in DIR;
# DIR/certs.d/HOST:PORT/ca.crt as podman and skopeo read it.
make_tls_certs() { # DIR HOST:PORT
  command -v openssl >/dev/null || skip "openssl is not installed"
  local d=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=nci test CA ${d##*/}" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
  mkdir -p "$d/certs.d/$2"
  cp "$d/ca.crt" "$d/certs.d/$2/ca.crt"
}

stop_registry() {
  if [ -n "${REG_PID:-}" ]; then
    kill "$REG_PID" 2>/dev/null || true
    wait "$REG_PID" 2>/dev/null || true
  fi
  if [ -n "${REG_DIR:-}" ]; then
    if mountpoint -q "$REG_DIR/data"; then umount "$REG_DIR/data"; fi
    rm -rf "$REG_DIR"
  fi
}

# Blob uploads the registry logged (access log: PUT .../blobs/uploads/...).
blob_uploads() {
  grep -c '"PUT /v2/[^ ]*/blobs/uploads/' "$REG_DIR/log" || true
}

# The tags of a repository (empty if it has none or does not exist).
registry_tags() {
  curl -s ${2:+-u "$2"} "http://127.0.0.1:$REG_PORT/v2/$1/tags/list" | jq -r '.tags // [] | .[]' 2>/dev/null || true
}

push_tool() {
  echo "$(nbuild "$ROOT/tests/build.nix" --arg module "$ROOT/images/hello.nix" -A copyToRegistry)/bin/copy-to-registry"
}

t_L4_copy_to_registry_pushes_hello_podman_pulls_and_runs_it_and_a_second_push_sends_no_blob() {
  trap 'podman rmi -f "127.0.0.1:$REG_PORT/nci/hello:v1" >/dev/null 2>&1; stop_registry' EXIT
  start_registry
  push=$(push_tool)
  out=$(REGISTRY_AUTH_FILE=/nonexistent "$push" "docker://127.0.0.1:$REG_PORT/nci/hello:v1" 2>&1) || fail "$out"
  echo "$out"
  assert_contains "$out" "copy-to-registry: pushed docker://127.0.0.1:$REG_PORT/nci/hello:v1"
  first=$(blob_uploads)
  [ "$first" -ge 2 ] || fail "expected the layers and the config uploaded, saw $first uploads"
  assert_eq "$(registry_tags nci/hello)" v1
  podman pull -q --tls-verify=false "127.0.0.1:$REG_PORT/nci/hello:v1" >/dev/null
  "${PODMAN_RUN[@]}" "127.0.0.1:$REG_PORT/nci/hello:v1" | grep -q 'Hello, world!' || fail "the pulled image does not print hello"
  out=$(REGISTRY_AUTH_FILE=/nonexistent "$push" "docker://127.0.0.1:$REG_PORT/nci/hello:v2" 2>&1) || fail "$out"
  echo "$out"
  assert_eq "$(blob_uploads)" "$first" "(the second push uploaded blobs)"
  assert_contains "$out" ": 0 layer(s) sent,"
  assert_eq "$(registry_tags nci/hello | sort | tr '\n' ' ')" "v1 v2 "
}

t_L4_copy_to_registry_with_basic_auth_reads_the_auth_file_and_a_wrong_password_leaves_no_tag() {
  trap 'podman rmi -f "127.0.0.1:$REG_PORT/nci/hello:ok" >/dev/null 2>&1; stop_registry' EXIT
  start_registry auth pusher s3cret-pw
  push=$(push_tool)
  auth=$REG_DIR/auth.json
  printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$REG_PORT" "$(printf 'pusher:wrong' | base64)" >"$auth"
  if out=$(REGISTRY_AUTH_FILE=$auth "$push" "docker://127.0.0.1:$REG_PORT/nci/hello:bad" 2>&1); then
    fail "a push with a wrong password succeeded: $out"
  fi
  assert_eq "$out" "copy-to-registry: error: docker://127.0.0.1:$REG_PORT/nci/hello:bad: 127.0.0.1:$REG_PORT refused the credentials of pusher (from $auth)"
  if out=$(REGISTRY_AUTH_FILE=$REG_DIR/none.json "$push" "docker://127.0.0.1:$REG_PORT/nci/hello:bad" 2>&1); then
    fail "a push without credentials succeeded: $out"
  fi
  assert_eq "$out" "copy-to-registry: error: docker://127.0.0.1:$REG_PORT/nci/hello:bad: 127.0.0.1:$REG_PORT asks for credentials and there are none for it in $REG_DIR/none.json (log in with \`podman login 127.0.0.1:$REG_PORT\`, or name an auth file with --authfile)"
  assert_eq "$(registry_tags nci/hello pusher:s3cret-pw)" ""
  assert_eq "$(blob_uploads)" 0
  printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$REG_PORT" "$(printf 'pusher:s3cret-pw' | base64)" >"$auth"
  out=$(REGISTRY_AUTH_FILE=$auth "$push" "docker://127.0.0.1:$REG_PORT/nci/hello:ok" 2>&1) || fail "$out"
  assert_eq "$(registry_tags nci/hello pusher:s3cret-pw)" ok
  podman pull -q --tls-verify=false --authfile "$auth" "127.0.0.1:$REG_PORT/nci/hello:ok" >/dev/null
  "${PODMAN_RUN[@]}" "127.0.0.1:$REG_PORT/nci/hello:ok" | grep -q 'Hello, world!' || fail "the pulled image does not print hello"
}

t_L4_copy_to_registry_to_an_unreachable_registry_names_the_destination() {
  push=$(push_tool)
  # A port nothing listens on: bound, then released.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  if out=$(REGISTRY_AUTH_FILE=/nonexistent "$push" "docker://127.0.0.1:$port/nci/hello:x" 2>&1); then
    fail "a push to nowhere succeeded: $out"
  fi
  assert_eq "$out" "copy-to-registry: error: docker://127.0.0.1:$port/nci/hello:x: cannot reach 127.0.0.1:$port: http://127.0.0.1:$port/v2/: Connection Failed: Connect error: Connection refused (os error 111)"
}

t_L4_copy_to_registry_refuses_a_destination_without_a_registry_host() {
  push=$(push_tool)
  if out=$("$push" docker://nci/hello:x 2>&1); then fail "succeeded: $out"; fi
  assert_eq "$out" "copy-to-registry: error: docker://nci/hello:x: the destination must name its registry host first (docker://nci.example.com/... or docker://localhost:5000/...), as no default registry is assumed"
}

t_L4_copy_to_registry_after_one_package_changed_sends_one_layer_and_the_config() {
  trap 'stop_registry' EXIT
  start_registry
  first=$(hello_with_data one) second=$(hello_with_data two)
  out=$(REGISTRY_AUTH_FILE=/nonexistent "$first" "docker://127.0.0.1:$REG_PORT/nci/hello:one" 2>&1) || fail "$out"
  before=$(blob_uploads)
  out=$(REGISTRY_AUTH_FILE=/nonexistent "$second" "docker://127.0.0.1:$REG_PORT/nci/hello:two" 2>&1) || fail "$out"
  echo "$out"
  assert_contains "$out" ": 1 layer(s) sent,"
  assert_contains "$(grep ': sent$' <<<"$out")" "-registry-test-data ("
  # The changed package's layer and the config; the manifest is a PUT
  # to /manifests/, not a blob upload.
  assert_eq "$(($(blob_uploads) - before))" 2
  assert_eq "$(registry_tags nci/hello | sort | tr '\n' ' ')" "one two "
}

# The manifest of REPOSITORY:TAG as the registry serves it.
registry_manifest() {
  curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://127.0.0.1:$REG_PORT/v2/$1/manifests/$2"
}

# Compressed facts the push cache holds (one file per layer and format).
cache_entries() {
  find "$XDG_CACHE_HOME/nix-container-images/compressed" -type f 2>/dev/null | wc -l
}

# An image of hello plus one small package whose content is $1.
hello_with_data() {
  echo "$(nbuild "$ROOT/tests/build.nix" -A copyToRegistry --arg module "
    { pkgs, ... }: {
      imports = [ $ROOT/images/hello.nix ];
      image.contents = [ (pkgs.writeText \"registry-test-data\" \"$1\") ];
    }")/bin/copy-to-registry"
}

t_L4_copy_to_registry_sends_gzip_layers_compressed_once_and_the_same_digests_from_an_empty_cache() {
  trap 'podman rmi -f "127.0.0.1:$REG_PORT/nci/hello:two" >/dev/null 2>&1; stop_registry' EXIT
  start_registry
  first=$(hello_with_data one) second=$(hello_with_data two)
  out=$(REGISTRY_AUTH_FILE=/nonexistent "$first" "docker://127.0.0.1:$REG_PORT/nci/hello:one" 2>&1) || fail "$out"
  echo "$out"
  layers=$(registry_manifest nci/hello one | jq '.layers | length')
  [ "$layers" -ge 3 ] || fail "expected at least 3 layers, the manifest has $layers"
  assert_eq "$(registry_manifest nci/hello one | jq -r '[.layers[].mediaType] | unique | join(" ")')" \
    "application/vnd.oci.image.layer.v1.tar+gzip"
  # Every layer compressed once, its facts cached.
  assert_eq "$(grep -c ': compressed (gzip) to ' <<<"$out")" "$layers"
  assert_eq "$(cache_entries)" "$layers"
  assert_contains "$out" ": $layers layer(s) sent, 0 the registry had, $layers compressed (gzip)"
  manifest_one=$(sed -n 's/^copy-to-registry: pushed .* (\(sha256:[0-9a-f]*\)).*/\1/p' <<<"$out")

  # One package changed: only its layer is compressed (and sent).
  out=$(REGISTRY_AUTH_FILE=/nonexistent "$second" "docker://127.0.0.1:$REG_PORT/nci/hello:two" 2>&1) || fail "$out"
  echo "$out"
  assert_eq "$(grep -c ': compressed (gzip) to ' <<<"$out")" 1
  assert_contains "$(grep ': compressed (gzip) to ' <<<"$out")" "-registry-test-data: compressed"
  assert_contains "$out" ": 1 layer(s) sent, $((layers - 1)) the registry had, 1 compressed (gzip)"
  assert_eq "$(cache_entries)" "$((layers + 1))"
  podman pull -q --tls-verify=false "127.0.0.1:$REG_PORT/nci/hello:two" >/dev/null
  "${PODMAN_RUN[@]}" "127.0.0.1:$REG_PORT/nci/hello:two" | grep -q 'Hello, world!' || fail "the pulled gzip image does not print hello"

  # Determinism: from an empty cache, every layer compresses to the same
  # bytes, so the same manifest, and the registry has every blob (blobs
  # are per repository: the same one).
  out=$(XDG_CACHE_HOME=$REG_DIR/cache2 REGISTRY_AUTH_FILE=/nonexistent "$first" "docker://127.0.0.1:$REG_PORT/nci/hello:again" 2>&1) || fail "$out"
  echo "$out"
  assert_contains "$out" ": 0 layer(s) sent, $layers the registry had, $layers compressed (gzip)"
  assert_eq "$(sed -n 's/^copy-to-registry: pushed .* (\(sha256:[0-9a-f]*\)).*/\1/p' <<<"$out")" "$manifest_one"
}

t_L4_copy_to_registry_with_zstd_sends_zstd_layers_podman_pulls_and_runs_them() {
  trap 'podman rmi -f "127.0.0.1:$REG_PORT/nci/hello:zstd" >/dev/null 2>&1; stop_registry' EXIT
  start_registry
  push=$(push_tool)
  out=$(REGISTRY_AUTH_FILE=/nonexistent "$push" --compression-format zstd "docker://127.0.0.1:$REG_PORT/nci/hello:zstd" 2>&1) || fail "$out"
  echo "$out"
  assert_eq "$(registry_manifest nci/hello zstd | jq -r '[.layers[].mediaType] | unique | join(" ")')" \
    "application/vnd.oci.image.layer.v1.tar+zstd"
  assert_contains "$out" "compressed (zstd)"
  podman pull -q --tls-verify=false "127.0.0.1:$REG_PORT/nci/hello:zstd" >/dev/null
  "${PODMAN_RUN[@]}" "127.0.0.1:$REG_PORT/nci/hello:zstd" | grep -q 'Hello, world!' || fail "the pulled zstd image does not print hello"
  # An unknown format is refused by name.
  if out=$("$push" --compression-format lz4 "docker://127.0.0.1:$REG_PORT/nci/hello:x" 2>&1); then fail "lz4 accepted: $out"; fi
  assert_contains "$out" "invalid value 'lz4' for '--compression-format <COMPRESSION_FORMAT>'"
}

engine_tool() { # ATTRIBUTE PROGRAM
  echo "$(nbuild "$ROOT/tests/build.nix" --arg module "$ROOT/images/hello.nix" -A "$1")/bin/$2"
}

t_L4_copy_to_podman_streams_the_image_into_podman_load_and_podman_runs_it() {
  trap 'if [ -n "${ref:-}" ]; then podman rmi -f "$ref" >/dev/null 2>&1; fi' EXIT
  tool=$(engine_tool copyToPodman copy-to-podman)
  tag=$(eval_image "import $ROOT/images/hello.nix" imageTag | jq -r .)
  ref=localhost/hello:$tag
  podman rmi -f "$ref" >/dev/null 2>&1 || true
  out=$("$tool" 2>&1) || fail "$out"
  echo "$out"
  assert_contains "$out" "Loaded image: $ref"
  assert_contains "$out" "copy-to-podman: loaded hello:$tag into podman"
  "${PODMAN_RUN[@]}" "$ref" | grep -q 'Hello, world!' || fail "the loaded image does not print hello"
  # The image podman holds is the image's: its ID is the config digest
  # of the image's OCI layout.
  assert_eq "sha256:$(podman image inspect --format '{{.Id}}' "$ref")" "$(hello_config_digest)"
}

# The config digest of images/hello.nix's OCI layout: the image ID an
# engine gives the image once loaded.
hello_config_digest() {
  local oci manifest
  oci=$(nbuild "$ROOT/tests/build.nix" --arg module "$ROOT/images/hello.nix" -A oci)
  manifest=$(jq -r '.manifests[0].digest' "$oci/index.json" | sed 's/^sha256://')
  jq -r '.config.digest' "$oci/blobs/sha256/$manifest"
}

# A private Docker daemon for one test (docker.io's dockerd, which
# tests/setup installs): its own socket, data and state in a temporary
# directory, no network setup (no bridge, no iptables) and the vfs
# storage driver, so that it touches nothing of the machine's.
start_dockerd() {
  command -v dockerd >/dev/null || skip "dockerd is not installed (docker.io; tests/setup installs it)"
  DK_DIR=$(mktemp -d)
  dockerd --data-root "$DK_DIR/root" --exec-root "$DK_DIR/exec" --pidfile "$DK_DIR/pid" \
    -H "unix://$DK_DIR/docker.sock" --iptables=false --ip6tables=false --bridge=none \
    --storage-driver=vfs >"$DK_DIR/log" 2>&1 &
  DK_PID=$!
  export DOCKER_HOST=unix://$DK_DIR/docker.sock
  for _ in $(seq 150); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$DK_PID" 2>/dev/null || break
    sleep 0.2
  done
  fail "dockerd did not start: $(tail -n 5 "$DK_DIR/log")"
}

stop_dockerd() {
  if [ -n "${DK_PID:-}" ]; then
    kill "$DK_PID" 2>/dev/null || true
    wait "$DK_PID" 2>/dev/null || true
  fi
  if [ -n "${DK_DIR:-}" ]; then
    # What a container left mounted (its /dev/shm), deepest first.
    awk -v d="$DK_DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n 1 umount -l
    rm -rf "$DK_DIR"
  fi
}

t_L4_copy_to_docker_daemon_loads_hello_into_a_real_dockerd_and_docker_runs_it() {
  trap stop_dockerd EXIT
  start_dockerd
  tool=$(engine_tool copyToDockerDaemon copy-to-docker-daemon)
  tag=$(eval_image "import $ROOT/images/hello.nix" imageTag | jq -r .)
  out=$("$tool" 2>&1) || fail "$out"
  echo "$out"
  assert_contains "$out" "Loaded image: hello:$tag"
  assert_contains "$out" "copy-to-docker-daemon: loaded hello:$tag into docker"
  docker run --rm --network none --ulimit nofile=1024:1024 "hello:$tag" | grep -q 'Hello, world!' ||
    fail "the image docker loaded does not print hello"
  assert_eq "$(docker image inspect --format '{{.Id}}' "hello:$tag")" "$(hello_config_digest)"
}

t_L4_copy_to_docker_daemon_builds_and_without_docker_or_its_daemon_fails_clearly() {
  # Without docker, or with its client but no daemon answering: the
  # test above loads into a real (private) dockerd.
  tool=$(engine_tool copyToDockerDaemon copy-to-docker-daemon)
  assert_eq "$(sed -n 2p "$tool" | jq -r .engine)" docker
  assert_contains "$(head -n 1 "$tool")" "-nci-push load"
  if out=$(PATH=/nonexistent "$tool" 2>&1); then fail "succeeded without docker: $out"; fi
  assert_eq "$out" "copy-to-docker-daemon: error: docker is not installed (not found on PATH: /nonexistent); install it, or use copyToRegistry or the image's docker-archive"
  # Where docker's client is installed and no daemon answers at
  # DOCKER_HOST: docker's own message, then ours, non-zero.
  if docker=$(command -v docker); then
    export DOCKER_HOST=unix:///nonexistent/docker.sock
    if out=$("$tool" 2>&1); then fail "succeeded without a docker daemon: $out"; fi
    echo "$out"
    assert_contains "$out" "Cannot connect to the Docker daemon"
    assert_eq "$(tail -n 1 <<<"$out")" "copy-to-docker-daemon: error: \`$docker load\` failed (exit status: 1); nothing was loaded"
  fi
  # The same message for podman when it is missing.
  podman_tool=$(engine_tool copyToPodman copy-to-podman)
  if out=$(PATH=/nonexistent "$podman_tool" 2>&1); then fail "succeeded without podman: $out"; fi
  assert_eq "$out" "copy-to-podman: error: podman is not installed (not found on PATH: /nonexistent); install it, or use copyToRegistry or the image's docker-archive"
}

t_L4_copy_to_registry_over_https_trusts_the_ca_in_certs_d_and_refuses_another() {
  trap 'podman rmi -f "127.0.0.1:$REG_PORT/nci/hello:tls" >/dev/null 2>&1; stop_registry' EXIT
  REG_TLS=1 start_registry
  push=$(push_tool)
  host=127.0.0.1:$REG_PORT
  # Plain HTTP is refused by the registry: the push must speak TLS.
  assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://$host/v2/")" 400
  out=$(REGISTRY_AUTH_FILE=/nonexistent "$push" --cert-dir "$REG_DIR/certs.d/$host" "docker://$host/nci/hello:tls" 2>&1) || fail "$out"
  echo "$out"
  assert_contains "$out" "copy-to-registry: pushed docker://$host/nci/hello:tls"
  assert_eq "$(curl -s --cacert "$REG_DIR/ca.crt" "https://$host/v2/nci/hello/tags/list" | jq -r '.tags[]')" tls
  podman pull -q --cert-dir "$REG_DIR/certs.d/$host" "$host/nci/hello:tls" >/dev/null
  "${PODMAN_RUN[@]}" "$host/nci/hello:tls" | grep -q 'Hello, world!' || fail "the image pulled over HTTPS does not print hello"
  # Another CA in certs.d: the registry's certificate is not trusted.
  other=$REG_DIR/other && mkdir -p "$other"
  make_tls_certs "$other" "$host"
  if out=$(REGISTRY_AUTH_FILE=/nonexistent "$push" --cert-dir "$other/certs.d/$host" "docker://$host/nci/hello:untrusted" 2>&1); then
    fail "a push trusting another CA succeeded: $out"
  fi
  assert_eq "$out" "copy-to-registry: error: docker://$host/nci/hello:untrusted: cannot reach $host: https://$host/v2/: Connection Failed: tls connection init failed: invalid peer certificate: UnknownIssuer"
  assert_eq "$(curl -s --cacert "$REG_DIR/ca.crt" "https://$host/v2/nci/hello/tags/list" | jq -r '.tags[]')" tls
}

t_L4_copy_to_registry_to_a_full_registry_disk_fails_clearly_leaves_no_tag_and_a_later_push_completes() {
  [ "$(id -u)" = 0 ] || skip "the registry's small disk is a tmpfs mount, which needs root"
  trap 'stop_registry' EXIT
  # Room for the small layers (nci-init: 116 KB compressed), not for
  # hello's (1,022 KB).
  REG_STORAGE_SIZE=700k start_registry
  push=$(push_tool)
  if out=$(REGISTRY_AUTH_FILE=/nonexistent "$push" "docker://127.0.0.1:$REG_PORT/nci/hello:full" 2>&1); then
    fail "a push to a full registry succeeded: $out"
  fi
  echo "$out"
  error=$(grep 'error:' <<<"$out")
  # hello's layer, gzip: the same digest everywhere (deterministic).
  assert_contains "$error" "copy-to-registry: error: docker://127.0.0.1:$REG_PORT/nci/hello:full: layer sha256:607e1b4636d7 ("
  assert_contains "$error" "-hello-2.12): upload of sha256:aab094590e0125c9fbed531706b763c7ccf4d40a2126555e99767875e0107593: the registry could not store it (is its storage full or read-only? its log says why): it answered 500 Internal Server Error (UNKNOWN: unknown error: write $REG_DIR/data/docker/registry/v2/repositories/nci/hello/_uploads/"
  [[ $error == *"/data: no space left on device)" ]] || fail "the error does not end with the registry's reason: $error"
  assert_eq "$(registry_tags nci/hello)" ""
  # Room again: the next push sends what is missing and tags.
  mount -o remount,size=16m "$REG_DIR/data"
  out=$(REGISTRY_AUTH_FILE=/nonexistent "$push" "docker://127.0.0.1:$REG_PORT/nci/hello:full" 2>&1) || fail "$out"
  echo "$out"
  assert_contains "$out" "copy-to-registry: pushed docker://127.0.0.1:$REG_PORT/nci/hello:full"
  assert_eq "$(registry_tags nci/hello)" full
}

t_L4_copy_to_registry_with_a_wrong_compression_cache_entry_fails_naming_it_removes_it_and_the_next_push_completes() {
  trap 'stop_registry' EXIT
  start_registry
  push=$(push_tool)
  plan=$(sed -n 2p "$push" | jq -r .plan)
  layer=$(jq -r '.layers[] | select(.comment | endswith("-hello-2.12")) | .digest' "$plan")
  hello=$(jq -r '.layers[] | select(.comment | endswith("-hello-2.12")) | .comment' "$plan")
  gz=sha256:aab094590e0125c9fbed531706b763c7ccf4d40a2126555e99767875e0107593
  entry=$XDG_CACHE_HOME/nix-container-images/compressed/gzip-6-chunks-128k-zlib-rs-0.6/$layer
  mkdir -p "$(dirname "$entry")"
  printf '{"digest":"%s","size":12}' "$gz" >"$entry"
  if out=$(REGISTRY_AUTH_FILE=/nonexistent timeout 120 "$push" "docker://127.0.0.1:$REG_PORT/nci/hello:cache" 2>&1); then
    fail "a push with a wrong cache entry succeeded: $out"
  fi
  echo "$out"
  assert_eq "$(grep 'error:' <<<"$out")" "copy-to-registry: error: docker://127.0.0.1:$REG_PORT/nci/hello:cache: layer sha256:${layer:0:12} ($hello): compressed (gzip) again, it is not the 12 bytes the compression cache gave for $gz; the entry is removed, push again"
  [ ! -e "$entry" ] || fail "the wrong entry is still there"
  assert_eq "$(registry_tags nci/hello)" ""
  out=$(REGISTRY_AUTH_FILE=/nonexistent "$push" "docker://127.0.0.1:$REG_PORT/nci/hello:cache" 2>&1) || fail "$out"
  assert_eq "$(registry_tags nci/hello)" cache
}
