#!/usr/bin/env bash
# Installs everything apt-ostree and its tests need. Idempotent: it only
# installs what is missing or at the wrong version. This is the one place
# where dependencies are installed (CI runs it through .ci/run).
set -euo pipefail

DENO_VERSION="2.9.6"

# Debian packages: the tool itself needs ostree; the rest are the validators,
# the registry, the bootstrapper and the sandbox that the tests and the
# compose commands use.
DEBIAN_PACKAGES=(
  ostree          # the tool's source of truth
  skopeo          # validator: inspect/copy images
  umoci           # validator: unpack images
  oci-image-tool  # validator: spec compliance
  podman          # validator: `podman load`
  docker-registry # a real registry on loopback for the registry tests
  mmdebstrap      # compose bootstrap
  bubblewrap      # compose sandbox
  qemu-user-static # foreign-architecture compose: maintainer scripts under emulation
  binfmt-support  # update-binfmts, which enables qemu-user's handlers
  arch-test       # mmdebstrap --arch: checks that the architecture can run
  pigz            # bench baseline
  zstd            # bench baseline, zstd layers
  apache2-utils   # htpasswd for registry auth tests
  openssl         # test CA for registry TLS tests; checks cosign-format signatures
  gnupg           # simple signing (gpg --sign) and the signing tests' keys
  gpgv            # verifies simple signatures against a temporary keyring
  attr            # setfattr/getfattr for xattr tests
  tar             # GNU tar: reads our tar back in unit tests
  util-linux      # setpriv: children die with the tool
  procps          # ps: the chaos test checks that no child outlives the tool
  e2fsprogs       # mkfs.ext4 -d, chattr: disk image and scratch sysroot of the boot demo and tests
  qemu-system-x86 # boots a deployment in the boot demo and the boot test
  ca-certificates
  curl
  git
)

log() { printf 'setup: %s\n' "$*" >&2; }

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_debian_packages() {
  local missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "Debian packages: all present"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_deno() {
  local have=""
  if command -v deno >/dev/null 2>&1; then
    have="$(deno --version | sed -n 's/^deno \([0-9.]*\).*/\1/p')"
  fi
  if [ "$have" = "$DENO_VERSION" ]; then
    log "deno $DENO_VERSION: present"
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    log "npm is missing: installing nodejs and npm from Debian to fetch Deno"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  log "installing deno $DENO_VERSION from the npm registry (found: ${have:-none})"
  sudo_if_needed npm install -g --no-fund --no-audit "deno@$DENO_VERSION"
  hash -r
  deno --version >&2
}

# Validators from the npm registry that the tests run as programs (npm: imports in
# the tests cover the libraries).
SARIF_MULTITOOL_VERSION="5.7.0"

install_npm_tools() {
  local have=""
  if command -v sarif-multitool >/dev/null 2>&1; then
    have="$(npm ls -g --depth=0 @microsoft/sarif-multitool 2>/dev/null | sed -n 's/.*@microsoft\/sarif-multitool@\([0-9.]*\).*/\1/p')"
  fi
  if [ "$have" = "$SARIF_MULTITOOL_VERSION" ]; then
    log "sarif-multitool $SARIF_MULTITOOL_VERSION: present"
    return
  fi
  log "installing Microsoft's SARIF multitool $SARIF_MULTITOOL_VERSION (validates image scan's SARIF output)"
  sudo_if_needed npm install -g --no-fund --no-audit "@microsoft/sarif-multitool@$SARIF_MULTITOOL_VERSION"
}

install_debian_packages
install_deno
install_npm_tools
log "done"
