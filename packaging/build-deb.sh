#!/bin/sh
# Builds the vigil Debian package: packaging/build-deb.sh VERSION OUTDIR
# (make deb). Only dpkg-deb and Go are needed; man pages and completion are
# generated from the binary and the policy schema (packaging/gendocs).
set -eu
version=$1
outdir=$2
arch=$(go env GOARCH)
root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT INT TERM

CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$root/usr/bin/vigil" ./cmd/vigil
# The BGP speaker (GoBGP), run by the agent only where the policy has BGP.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$root/usr/lib/vigil/vigil-bgp" ./cmd/vigil-bgp
gen=$root/gen
go run ./packaging/gendocs -vigil "$root/usr/bin/vigil" -version "$version" -out "$gen"

install -D -m 0644 packaging/vigil.service "$root/lib/systemd/system/vigil.service"
install -D -m 0644 packaging/site.hcl "$root/etc/vigil/site.hcl"
install -D -m 0644 packaging/default "$root/etc/default/vigil"
install -D -m 0644 packaging/polkit/50-vigil.rules "$root/usr/share/polkit-1/rules.d/50-vigil.rules"
install -D -m 0644 "$gen/man8/vigil.8.gz" "$root/usr/share/man/man8/vigil.8.gz"
install -D -m 0644 "$gen/man5/vigil-policy.5.gz" "$root/usr/share/man/man5/vigil-policy.5.gz"
install -D -m 0644 "$gen/completion/vigil.bash" "$root/usr/share/bash-completion/completions/vigil"
install -D -m 0644 "$gen/completion/_vigil" "$root/usr/share/zsh/vendor-completions/_vigil"
install -D -m 0644 README.md "$root/usr/share/doc/vigil/README.md"
for d in docs/*.md; do install -D -m 0644 "$d" "$root/usr/share/doc/vigil/$d"; done
install -d -m 0755 "$root/usr/lib/vigil/plugins"
rm -rf "$gen"

install -d -m 0755 "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" packaging/deb/control.in >"$root/DEBIAN/control"
printf '/etc/vigil/site.hcl\n/etc/default/vigil\n' >"$root/DEBIAN/conffiles"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"

mkdir -p "$outdir"
dpkg-deb --root-owner-group -Zxz --build "$root" "$outdir/vigil_${version}_${arch}.deb" >/dev/null
echo "$outdir/vigil_${version}_${arch}.deb"
