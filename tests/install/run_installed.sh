#!/usr/bin/env bash
# The installed product stands alone:
#  1. `cmake --install` into a temporary prefix, then the installed `crosscoder demo` from an empty
#     folder elsewhere (a reduced budget, every stage): its stages read configs/, data/, organism/
#     and the report assets from PREFIX/share/crosscoder, never from the source tree;
#  2. `cpack -G DEB`, the package unpacked with dpkg-deb into another temporary root (no root
#     install needed), and the same from there.
# Usage: run_installed.sh BUILD_DIR WORK_DIR
set -euo pipefail
build=$(realpath "$1")
work=$2
rm -rf "$work"
mkdir -p "$work"
work=$(realpath "$work")
small=(--quiet --set harvest.tokens=12000 --set harvest.shard_tokens=4096 --set crosscoder.l1.tokens=60000
       --set crosscoder.batchtopk.tokens=60000 --set crosscoder.l1.dict_size=512 --set crosscoder.batchtopk.dict_size=512
       --set crosscoder.l1.batch_size=256 --set crosscoder.batchtopk.batch_size=256
       --set analysis.tokens=6000 --set spliced_loss.sequences=4 --set ablation.sequences=8 --set ablation.positions=4 --set ablation.rank_positions=20
       --set 'ablation.k=[20]' --set steering.problems=1 --set steering.samples=0 --set steering.max_new_tokens=8
       --set 'steering.alphas=[0,8]' --set 'geometry.tasks=["antonym"]' --set geometry.bootstrap=20
       --set enrichment.max_traces=4 --set enrichment.permutations=200
       --set calibration.enabled=false)  # the calibration has its own test (Calibration.EndToEnd)

# Runs the installed binary $1 (whose share folder is $2) from an empty folder and checks that every
# resource path the stages recorded lies under $2.
check_installed() {
  local bin=$1 share=$2 name=$3
  mkdir -p "$work/$name-cwd"
  (cd "$work/$name-cwd" && env -u CROSSCODER_HOME "$bin" demo --out run "${small[@]}" > summary.txt)
  local run=$work/$name-cwd/run
  for f in summary.txt report.html store/manifest.json analysis/features.csv ablation/ablation.json steer/steer.json geometry/geometry.json enrichment/enrichment.json; do
    [[ -s "$run/$f" ]] || { echo "$name: $run/$f is missing"; exit 1; }
  done
  python3 - "$run/stages.json" "$share" "$name" <<'PY'
import json, sys
stages, share, name = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
s = stages["analyze"]["settings"]
paths = {"lexicon": s["lexicon"], "base model": s["models"]["base"],
         "problems file": stages["steer"]["settings"]["problems_file"],
         "report assets": stages["report"]["settings"]["assets"],
         "corpus": stages["harvest"]["settings"]["corpora"][0]["spec"],
         "word pairs": stages["geometry"]["settings"]["datasets"],
         "tagged sentences": stages["enrich"]["settings"]["sentences"]}
bad = {k: v for k, v in paths.items() if not v.startswith(share + "/")}
if bad:
    sys.exit(f"{name}: resources not taken from {share}: {bad}")
print(f"{name}: every stage read its resources from {share}")
PY
}

echo "== 1. cmake --install into a temporary prefix"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
check_installed "$work/prefix/bin/crosscoder" "$work/prefix/share/crosscoder" install

echo "== 2. cpack -G DEB, unpacked into a temporary root"
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/pkg" > "$work/cpack.log") ||
  { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/pkg/*.deb)
dpkg-deb --info "$deb" | grep -E "Package|Depends"
dpkg-deb -x "$deb" "$work/root"
# Every library the binary links directly (ELF NEEDED) belongs to a package the .deb depends on.
depends=$(dpkg-deb -f "$deb" Depends)
for lib in $(objdump -p "$work/root/usr/bin/crosscoder" | awk '/NEEDED/ {print $2}'); do
  path=$(ldd "$work/root/usr/bin/crosscoder" | awk -v l="$lib" '$1 == l {print $3}')
  pkg=$(dpkg -S "$path" 2> /dev/null || dpkg -S "$(realpath "$path")" 2> /dev/null || dpkg -S "/usr$path" 2> /dev/null || true)
  pkg=${pkg%%:*}
  [[ -n "$pkg" ]] || { echo "no Debian package owns $lib ($path)"; exit 1; }
  [[ ",$depends," == *[\ ,\|]"$pkg"[\ ,]* ]] || { echo "the package does not depend on $pkg, which provides $lib"; exit 1; }
done
echo "the package depends on every library the binary links: $depends"
check_installed "$work/root/usr/bin/crosscoder" "$work/root/usr/share/crosscoder" deb
echo "installed copies run the demo from any folder"
