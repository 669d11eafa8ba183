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
$auth
EOC
  docker-registry serve "$REG_DIR/config.yml" >"$REG_DIR/log" 2>&1 &
  REG_PID=$!
  local i
  for i in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$REG_PORT/v2/" && return 0
    kill -0 "$REG_PID" 2>/dev/null || { cat "$REG_DIR/log"; fail "the registry did not start"; }
    sleep 0.1
  done
  fail "the registry did not answer on 127.0.0.1:$REG_PORT"
}

stop_registry() {
  if [ -n "${REG_PID:-}" ]; then
    kill "$REG_PID" 2>/dev/null || true
    wait "$REG_PID" 2>/dev/null || true
  fi
  if [ -n "${REG_DIR:-}" ]; then rm -rf "$REG_DIR"; fi
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
  tool() {
    echo "$(nbuild "$ROOT/tests/build.nix" -A copyToRegistry --arg module "
      { pkgs, ... }: {
        imports = [ $ROOT/images/hello.nix ];
        image.contents = [ (pkgs.writeText \"registry-test-data\" \"$1\") ];
      }")/bin/copy-to-registry"
  }
  first=$(tool one) second=$(tool two)
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
