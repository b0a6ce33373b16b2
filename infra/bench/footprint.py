"""Footprint of the release functions: `bootstrap` and zip sizes, and peak RSS of running instances.

    python infra/bench/footprint.py --lambda-dir $CARGO_TARGET_DIR/lambda --zips DIR --out F.json mcp api ...
    python infra/bench/footprint.py --rss F.json --lambda-dir $CARGO_TARGET_DIR/lambda mcp api ...

The first form zips each `lambda/<name>/bootstrap` as `sam deploy` packages it (deflate, the
executable bit kept, as infra/scripts/build.sh does) and records both sizes. The second reads
VmHWM (the peak resident set) of every process running a release bootstrap, i.e. every
function instance cargo lambda started in the benchmark's stack, after it has served the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_start import rss_kb  # noqa: E402


def sizes(lambda_dir: Path, zips: Path, names: list[str]) -> dict:
    zips.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names:
        src = lambda_dir / name / "bootstrap"
        dst = zips / f"{name}.zip"
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
            info = zipfile.ZipInfo.from_file(src, "bootstrap")
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, src.read_bytes())
        out[name] = {"bootstrap_bytes": src.stat().st_size, "zip_bytes": dst.stat().st_size}
        print(f"  {name:<18} bootstrap {src.stat().st_size / 1e6:6.2f} MB   zip {dst.stat().st_size / 1e6:6.2f} MB",
              file=sys.stderr)
    return out


def instances(lambda_dir: Path, names: list[str]) -> dict:
    want = {str((lambda_dir / n / "bootstrap").resolve()): n for n in names}
    found: dict[str, list[int]] = {n: [] for n in names}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{d}/exe")
        except OSError:
            continue
        if exe in want:
            found[want[exe]].append(rss_kb(int(d))[0])
    return {n: {"instances": len(v), "peak_rss_kb": max(v or [0])} for n, v in found.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lambda-dir", required=True)
    p.add_argument("--zips")
    p.add_argument("--out")
    p.add_argument("--rss")
    p.add_argument("names", nargs="+")
    a = p.parse_args()
    if a.rss:
        r = instances(Path(a.lambda_dir), a.names)
        for n, v in r.items():
            print(f"  peak RSS {n:<18} {v['peak_rss_kb'] / 1024:6.1f} MB over {v['instances']} instance(s)",
                  file=sys.stderr)
        Path(a.rss).write_text(json.dumps(r, indent=1))
    else:
        Path(a.out).write_text(json.dumps(sizes(Path(a.lambda_dir), Path(a.zips), a.names), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
