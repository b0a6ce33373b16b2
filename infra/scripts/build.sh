#!/usr/bin/env bash
# `make build`: the Lambda deployment artifacts, offline (no AWS account, no Docker):
#   sam build (BuildMethod rust-cargolambda -> `cargo lambda build --release --bin <Binary>`)
#   into .aws-sam/build/<Function>/bootstrap, then a zip per function in .aws-sam/zips/ (what
#   `sam deploy` uploads) and a table of their sizes.
#
#   ARCH=x86_64 (default) | arm64   the template's Architecture parameter; arm64 needs the
#                                   aarch64-unknown-linux-gnu Rust target (rustup target add)
#   extra arguments go to `sam build` (e.g. --debug)
#
# Release builds are slow (fat LTO, one codegen unit): several minutes per function on 2 cores.
# Not part of `make test`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ARCH="${ARCH:-x86_64}"
case "$ARCH" in
  x86_64) triple=x86_64-unknown-linux-gnu ;;
  arm64) triple=aarch64-unknown-linux-gnu ;;
  *) die "ARCH must be x86_64 or arm64, not $ARCH" ;;
esac

"$ROOT/infra/scripts/bootstrap.sh"
command -v cargo-lambda >/dev/null || die "cargo-lambda is not in .venv/bin (infra/requirements.txt)"
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$triple"; then
  die "the Rust target $triple is not installed (rustup target add $triple); ARCH=x86_64 builds here"
fi

# aws-lc (the AWS SDK's and reqwest's TLS, jsonwebtoken's RS256) seeds its random generator
# from CPU jitter entropy besides the OS: a one-time ~10-50 ms cost per process, i.e. per cold
# start, on the first TLS handshake. Lambda's getrandom is a sound source on its own, so the
# shipped build leaves jitter out (aws-lc-sys's build script reads this; see README, Deploy).
export AWS_LC_SYS_NO_JITTER_ENTROPY=1
export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

# Every function's Binary must be a bin of the workspace, or cargo lambda fails late and vaguely.
mapfile -t functions < <("$VENV/bin/python" - <<'PY'
import sys
sys.path.insert(0, "infra")
import aws_bootstrap as ab
t = ab.load_template("template.yaml")
for lid, r in t["Resources"].items():
    if r.get("Type") == "AWS::Serverless::Function":
        print(lid, ((r.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary", ""))
PY
)
bins="$(cargo metadata --no-deps --format-version 1 | "$VENV/bin/python" -c '
import json, sys
m = json.load(sys.stdin)
print(" ".join(t["name"] for p in m["packages"] for t in p["targets"] if "bin" in t["kind"]))')"
for f in "${functions[@]}"; do
  read -r lid bin <<<"$f"
  [[ " $bins " == *" $bin "* ]] || die "$lid: Binary '$bin' is not a bin of the workspace ($bins)"
done

log "sam build (release, $ARCH, cargo lambda $(cargo-lambda lambda --version | awk '{print $2}'))"
t0=$SECONDS
sam build --template template.yaml --build-dir .aws-sam/build \
  --parameter-overrides "Architecture=$ARCH" "$@"
secs=$((SECONDS - t0))

rm -rf .aws-sam/zips
mkdir -p .aws-sam/zips
"$VENV/bin/python" - "$secs" "$ARCH" "${functions[@]}" <<'PY'
import os, sys, zipfile
secs, arch, rows = int(sys.argv[1]), sys.argv[2], [a.split() for a in sys.argv[3:]]
print(f"\n{'function':<28} {'binary':<18} {'bootstrap':>12} {'zip':>12}")
for lid, binary in rows:
    src = f".aws-sam/build/{lid}/bootstrap"
    dst = f".aws-sam/zips/{lid}.zip"
    # As sam deploy packages it: deflate, the executable bit kept.
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo.from_file(src, "bootstrap")
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(src, "rb") as f:
            z.writestr(info, f.read())
    mb = lambda n: f"{n / 1e6:.2f} MB"
    print(f"{lid:<28} {binary:<18} {mb(os.path.getsize(src)):>12} {mb(os.path.getsize(dst)):>12}")
print(f"\n{arch}, sam build took {secs // 60} min {secs % 60} s; zips in .aws-sam/zips/, "
      "`sam deploy` takes .aws-sam/build/")
PY
