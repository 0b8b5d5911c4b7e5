#!/usr/bin/env bash
# Build kube-apiserver + kube-controller-manager v1.20.2 for the test suite, once per machine.
#
# Debian ships no kube-apiserver binary, but its `kubernetes` SOURCE package (vendored dependencies included),
# Go 1.19 (`golang-go`) and `etcd-server` 3.4 are enough. The binaries are cached outside the repository in
# $AEGIS_K8S_CACHE (default /var/cache/aegis-k8s); a second run only checks that they are there.
# Cold build: about 5-7 minutes on 2 idle cores (20 minutes measured on 2 cores shared at load 12), about 1.4 GB
# peak memory, 2 x ~110 MB of binaries. Needs root or sudo (apt), and Debian's archive (deb-src is added for it).
set -euo pipefail
CACHE="${AEGIS_K8S_CACHE:-/var/cache/aegis-k8s}"
BIN="$CACHE/bin"
VERSION=1.20.2
TARBALL="kubernetes_1.20.5+really${VERSION}.orig.tar.gz"
say() { printf '\033[1m[aegis]\033[0m %s\n' "$*" >&2; }
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo

need_apt=()
command -v etcd >/dev/null || need_apt+=(etcd-server)
command -v openssl >/dev/null || need_apt+=(openssl)
if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ ${#need_apt[@]} -eq 0 ]; then
  exit 0
fi

$sudo mkdir -p "$CACHE"
[ -w "$CACHE" ] || $sudo chown "$(id -u):$(id -g)" "$CACHE"
exec 9>"$CACHE/.build.lock"
if ! flock -n 9; then
  say "another process is building Kubernetes in $CACHE; waiting for it"
  flock 9
fi
if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ ${#need_apt[@]} -eq 0 ]; then
  exit 0
fi

started=$(date +%s)
say "building kube-apiserver + kube-controller-manager v$VERSION from Debian's kubernetes source package into $CACHE"
say "(once per machine: about 5-7 minutes on 2 idle cores, longer on a busy machine, about 1.4 GB of memory;"
say " later runs reuse the cache)"

# 1. toolchain + etcd from the same Debian mirror, and the source package (deb-src entry for the same mirror)
src_list=/etc/apt/sources.list.d/aegis-debian-src.sources
if [ ! -f "$src_list" ] && [ ! -f "${src_list%.sources}.list" ]; then
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then  # deb822 format (Debian 12 images)
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $sudo tee "$src_list" >/dev/null
  elif [ -f /etc/apt/sources.list ]; then                  # one-line format
    grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | $sudo tee "${src_list%.sources}.list" >/dev/null
  fi
fi
say "[1/4] apt: golang-go etcd-server and the kubernetes source package"
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends golang-go etcd-server openssl dpkg-dev >/dev/null
if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ]; then
  say "binaries already cached in $BIN; installed the missing packages only"
  exit 0
fi
cd "$CACHE"
[ -f "$TARBALL" ] || apt-get source --download-only kubernetes >/dev/null
[ -d "kubernetes-$VERSION" ] || tar xzf "$TARBALL"

# 2. GOPATH-mode layout (module mode fails with "updates to go.mod needed")
mkdir -p gp/src/k8s.io bin && ln -sfn "$CACHE/kubernetes-$VERSION" gp/src/k8s.io/kubernetes
export GO111MODULE=off GOPATH="$CACHE/gp" GOCACHE="$CACHE/gocache" CGO_ENABLED=0 GOFLAGS=
cd gp/src/k8s.io/kubernetes

# 3. report the real version (/version comes from client-go's version package, Get() from component-base's)
for f in staging/src/k8s.io/component-base/version/base.go staging/src/k8s.io/client-go/pkg/version/base.go; do
  sed -i -E 's/(gitMajor string)( = "")?( *\/\/)/\1 = "1"\3/; s/(gitMinor string)( = "")?( *\/\/)/\1 = "20"\3/; s/"v0\.0\.0-master\+[0-9a-f]+"/"v'"$VERSION"'"/' "$f"
done

# 4. the one generated file the source package lacks: pkg/generated/openapi/zz_generated.openapi.go
say "[2/4] generating the OpenAPI definitions"
if [ ! -f pkg/generated/openapi/zz_generated.openapi.go ]; then
  go build -o "$CACHE/bin/openapi-gen" k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen
  dirs=$(find -H . \( -path ./_\* -o -path ./.\* -o -path ./vendor \) -prune -o -type f -name '*.go' -print \
    | sed 's|^./staging/src|vendor|; s|^\./||' | xargs grep -l '^// *+k8s:openapi-gen=' \
    | grep -v -E '^vendor/k8s.io/(code-generator|sample-apiserver)/' | xargs -n1 dirname | LC_ALL=C sort -u \
    | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
  "$CACHE/bin/openapi-gen" -i "$dirs" -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
    -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt -r /dev/null --logtostderr 2>/dev/null
fi

# 5. build; each binary is moved into place only when complete
step=3
for component in kube-apiserver kube-controller-manager; do
  say "[$step/4] go build $component ($(( $(date +%s) - started )) s so far)"
  go build -ldflags "-s -w" -o "$CACHE/bin/$component.partial" "k8s.io/kubernetes/cmd/$component"
  mv "$CACHE/bin/$component.partial" "$CACHE/bin/$component"
  step=$((step + 1))
done
cd "$CACHE" && rm -rf gocache gp "kubernetes-$VERSION" bin/openapi-gen  # 1.6 GB of build leftovers
say "Kubernetes v$VERSION built in $(( $(date +%s) - started )) s, cached in $BIN"
