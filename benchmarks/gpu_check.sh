#!/usr/bin/env bash
# The GPU check: the CUDA tests, then bench_fit_speed.py on the GPU without and
# with bf16 autocast, then a summary; a few minutes on one GPU (8 at most).
#
# On a machine with a GPU and python3 with torch, from the repository root:
#
#     bash benchmarks/gpu_check.sh
#
# Packages the machine lacks (skorch, skops, prettytable, wcwidth) are installed
# from wheels in .whl/ when it exists, and the Fashion-MNIST files are read from
# $SKMTL_DATA, or .data/ when it exists (see benchmarks/README.md, "On a GPU",
# for how to carry both to a lent machine). DEVICE=cpu runs the same steps on
# the CPU, to try the script.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
BENCH_ARGS=${BENCH_ARGS:-}
export PYTHONUNBUFFERED=1

if [ -d .whl ]; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target /tmp/skmtl-site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/skmtl-site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -z "${SKMTL_DATA:-}" ] && [ -d .data/FashionMNIST/raw ]; then
    export SKMTL_DATA="$PWD/.data"
fi

log=$(mktemp -d)
"$PYTHON" - <<'EOF' || exit 1
import torch, skorch, sklearn
name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
print(f"torch {torch.__version__}, skorch {skorch.__version__}, "
      f"scikit-learn {sklearn.__version__}; {name}")
EOF

echo "== CUDA tests"
# The tests whose names say cuda: they run on the GPU where there is one (and
# are skipped where there is none).
timeout 240 "$PYTHON" -m pytest -q -p no:cacheprovider -o addopts="" -k cuda \
    tests/test_classifier.py tests/test_persistence.py tests/test_data.py \
    tests/test_batching.py 2>&1 | tee "$log/tests"
tests_rc=${PIPESTATUS[0]}

for precision in none bf16; do
    echo "== bench_fit_speed.py --device $DEVICE, mixed precision $precision"
    extra=()
    [ "$precision" = none ] || extra=(--mixed-precision "$precision")
    # shellcheck disable=SC2086  # BENCH_ARGS holds several options
    timeout 150 "$PYTHON" benchmarks/bench_fit_speed.py --device "$DEVICE" \
        "${extra[@]}" $BENCH_ARGS 2>&1 | tee "$log/bench_$precision"
done

echo "== summary"
echo "CUDA tests: $(tail -n 1 "$log/tests") (exit code $tests_rc)"
for precision in none bf16; do
    grep -E "^(plain|skmtl) " "$log/bench_$precision" \
        | sed "s/^/mixed precision $precision: /"
done
echo "target: the skmtl fit's ratio to plain at most 1.05"
exit "$tests_rc"
