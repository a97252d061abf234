#!/usr/bin/env bash
# MTCNN's detection time, this checkout beside another revision, in the same session: rounds of
# bench_detect.py that alternate the two (each round runs the revision first, then this checkout),
# so both see the same machine load. The revision's code runs from a `git archive` of it (its own
# runtime/, export/ and kernels/ imported as facert through PYTHONPATH) with its own export of MTCNN, made from the
# weights in this checkout's cache.
#
#   bench/detect_against.sh REV [ROUNDS] [bench_detect.py options]
#   e.g. bench/detect_against.sh main 3 --runs 10 --heights 1080
set -euo pipefail
rev=${1:?usage: bench/detect_against.sh REV [ROUNDS] [bench_detect.py options]}
rounds=${2:-3}
shift $(($# < 2 ? $# : 2))
root=$(git rev-parse --show-toplevel)
python=${PYTHON:-$root/.venv/bin/python}
cache=${FACERT_CACHE:-$HOME/.cache/facert}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$root" archive "$rev" runtime export kernels bench | tar -x -C "$work"
# The package as installed: facert = runtime/, facert.export = export/, facert.kernels = kernels/.
ln -s runtime "$work/facert"
ln -s ../export "$work/runtime/export"
ln -s ../kernels "$work/runtime/kernels"
mkdir -p "$work/cache/mtcnn"
cp -r "$cache/mtcnn/weights" "$work/cache/mtcnn/"
(cd "$work" && PYTHONPATH="$work" FACERT_CACHE="$work/cache" "$python" -c \
  'from facert.cli.main import main; raise SystemExit(main(["models", "export", "mtcnn"]))' >/dev/null)
args=(--detectors mtcnn "$@")
for round in $(seq "$rounds"); do
  echo "round $round, load $(cut -d' ' -f1-3 /proc/loadavg)"
  (cd "$work" && PYTHONPATH="$work" FACERT_CACHE="$work/cache" "$python" bench/bench_detect.py \
    "${args[@]}" | sed "s/^/  $rev: /")
  (cd "$root" && FACERT_CACHE="$cache" "$python" bench/bench_detect.py "${args[@]}" \
    | sed "s/^/  this: /")
done
