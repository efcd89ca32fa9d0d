#!/usr/bin/env bash
# The GPU checks in one script (issue 16): install, build the CUDA kernels, run the CUDA tests,
# the op and training-loop benchmarks, the tests that need one GPU, and the demo, in < 10 minutes
# on one H200. Run from anywhere on a machine whose python3 holds a CUDA build of torch:
#
#     bash benchmarks/gpu.sh [STEP...]      # steps: install build diag ops figures amp families cpu diag_bt
#                                           #        cpu_profile loop ddp dota demo suite
#
# No step needs the internet. Wheels that the machine lacks (shapely, hatchling, e2cnn) are read
# from .whl/ when it exists (benchmarks/gpu_prepare.sh makes it); ../shared is read from
# $RDET_SHARED, by default .gpu_shared/ in the checkout (a copy: the real ../shared does not travel).
# Everything each step prints goes to $OUT/gpu.log, figures to $OUT/*.json. The steps share one
# budget ($GPU_BUDGET_S, 540 s: a device call may run 600): a step gets what is left of it, and
# one that would start with under 20 s left is skipped. The device call: run with
# timeout_s=600 and carry [".whl", ".gpu_shared"], from a committed, clean working tree.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/gpu_out}
mkdir -p "$OUT"
PY=${PY:-python3}
export PYTHONUNBUFFERED=1
export MAX_JOBS=${MAX_JOBS:-16}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
export RBOX_OPS_CACHE=${RBOX_OPS_CACHE:-$ROOT/.gpu_cache/rbox_ops}
export RDET_SHARED=${RDET_SHARED:-$ROOT/.gpu_shared}
LOG=$OUT/gpu.log
T0=$(date +%s)
# default: what session 11 left to measure on a GPU: the Sutherland-Hodgman overlap and the
# identical-box fix on CUDA (ops), box_iou / nms times after them (figures), the main job's loop
# with epoch-spanning workers against its model-only rate and the 2-core CPU (loop), the H200
# host's bf16 with the vectorised NMS and the fused SGD step (cpu). amp and families passed in
# session 10 (29/29, 82/82).
STEPS=${*:-install build ops figures loop cpu}
BUDGET_S=${GPU_BUDGET_S:-540}

# step NAME LIMIT_S CMD...: run CMD with a time limit; its output goes to the log and stdout
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((T0 + BUDGET_S - $(date +%s)))
  if ((left < 20)); then
    echo "=== $name: SKIPPED ($left s of the budget left)" | tee -a "$LOG"
    return
  fi
  ((limit > left)) && limit=$left
  echo "=== $name: start at +$(($(date +%s) - T0)) s: $*" | tee -a "$LOG"
  timeout --signal=INT --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  echo "=== $name: rc=$rc at +$(($(date +%s) - T0)) s" | tee -a "$LOG"
  ((rc == 0)) || FAILED+=("$name")
}
FAILED=()

want() { [[ " $STEPS " == *" $1 "* ]]; }
# the CPU benchmarks run on 2 cores, as MMRotate was measured (where taskset exists)
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0,1)

if want install; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$LOG"
  if compgen -G ".whl/*.whl" >/dev/null; then
    step wheels 120 "$PY" -m pip install -q --no-index --no-deps --no-build-isolation .whl/*.whl
  fi
  projects=(packages/rbox-geometry packages/rdet-core packages/rdet-deploy packages/rbox-ops-cuda packages/rdet-eval
    packages/rdet-data packages/rdet-models packages/rdet-apps plugins/*/)
  args=()
  for p in "${projects[@]}"; do args+=(-e "$p"); done
  step install 180 "$PY" -m pip install -q --no-index --no-deps --no-build-isolation "${args[@]}"
  "$PY" -c "import torch, numpy, shapely, cv2; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0), 'numpy', numpy.__version__, 'shapely', shapely.__version__, 'cv2', cv2.__version__)" 2>&1 | tee -a "$LOG"
fi

if want build; then
  step build 240 "$PY" -m rbox_ops build
fi

if want ops; then
  # every CUDA op test (the fixtures pick the cuda backend when a GPU is visible); TF32 off
  # pytest-xdist's workers: a crashing test is reported as one failure, the others still run
  step ops 150 env NVIDIA_TF32_OVERRIDE=0 "$PY" -m pytest -q -n 8 --dist loadfile -p no:cacheprovider packages/rbox-ops-cuda/tests
fi

if want diag; then
  # A C++ error (TORCH_CHECK) thrown by the compiled ops crashed the process on the H200 image
  # (torch 2.11+cu130), never on the CPU machines (torch 2.11 and 2.13, g++ 12): the toolchain and
  # environment, then which C++ errors crash (gpu_diag/diag.py: torch's own, ours, without the
  # backtrace capture), then the native backtrace of the smallest crashing test.
  { c++ --version | head -1; nvcc --version | tail -2; "$PY" -VV
    env | grep -E '^(LD_|TORCH_|GLIBC_TUNABLES|CUDA_HOME)' || true
    LD_DEBUG=bindings "$PY" -c 'import torch
try: torch.zeros(2) @ torch.zeros(3)
except RuntimeError: pass' 2>&1 | grep -E '_Unwind_RaiseException|__cxa_throw|_Unwind_Backtrace' \
      | grep -E 'libtorch|libc10|rbox' | head -6
  } 2>&1 | tee -a "$LOG"
  step diag_cases 90 "$PY" benchmarks/gpu_diag/diag.py "$ROOT/.gpu_cache/diag_build"
  # how the libraries were linked: the link line, their C++ runtime, libstdc++ code inside them
  { env | grep -iE '^(LDFLAGS|CXXFLAGS|CFLAGS|CPPFLAGS|LIBRARY_PATH|CXX|CC)=' || true
    grep -h -A1 '^rule link' .gpu_cache/diag_build/*/build.ninja
    grep -h '^ldflags' .gpu_cache/diag_build/*/build.ninja
    for so in .gpu_cache/diag_build/*/*.so "$RBOX_OPS_CACHE"/*/*.so; do
      echo "$so: $(readelf -d "$so" | grep -o 'NEEDED.*libstdc[^]]*' | tr '\n' ' ')" \
        "libstdc++ code inside: $(nm -C --defined-only "$so" 2>/dev/null | grep -c -E 'std::(codecvt|basic_ostream|locale)')"
    done
    c++ -print-file-name=libstdc++.so; c++ -print-file-name=libstdc++.a
  } 2>&1 | tee -a "$LOG"
fi

if want figures; then
  step figures 100 bash -c '"$0" packages/rbox-ops-cuda/benchmarks/gpu_figures.py > "$1"; rc=$?; cat "$1"; exit $rc' \
    "$PY" "$OUT/figures.json"
fi

if want amp; then
  # issue 16, item 4: fp16 and bf16 autocast on CUDA against float32 and the golden detections
  # (test_fast_path's derived tolerances), a training step's gradients, 12 steps of each golden
  # config without NaN; TF32 off (float32 on CUDA is the reference)
  step amp 150 env RDET_TEST_DEVICE=cuda NVIDIA_TF32_OVERRIDE=0 "$PY" -m pytest -q -n 6 -p no:cacheprovider -rfEP \
    packages/rdet-apps/tests/test_fast_path.py -k "golden or training_step"
fi

if want families; then
  # one training step and one test forward of every MMRotate config (all 82) on the GPU (issue 17)
  step families 240 env RDET_TEST_DEVICE=cuda NVIDIA_TF32_OVERRIDE=0 "$PY" -m pytest -q -n 8 -p no:cacheprovider \
    packages/rdet-models/tests/test_config_sweep.py -k test_config_builds_trains_and_tests
fi

if want cpu; then
  # issue 16, item 1: bf16 on a CPU with native bf16 (this machine's; ours have AVX2 only):
  # rdet float32 (channels-last) against bf16 on 2 cores, as MMRotate was measured
  grep -o -w -E 'avx512_bf16|amx_bf16|amx_tile|avx512f' /proc/cpuinfo | sort | uniq -c | tee -a "$LOG"
  grep -m1 'model name' /proc/cpuinfo | tee -a "$LOG"
  for model in retinanet oriented_rcnn; do
    step "cpu-$model" 150 ${pin[@]+"${pin[@]}"} "$PY" packages/rdet-apps/benchmarks/bench_vs_mmrotate.py --models "$model" \
      --variants fp32-nchw channels-last bf16 --rounds 1 --repeat 1 --threads 2 --json "$OUT/cpu_$model.json"
  done
  # the Runner trains channels-last under CPU autocast: is NCHW's bf16 step faster on this CPU?
  step cpu-oriented_rcnn-nchw 60 ${pin[@]+"${pin[@]}"} "$PY" packages/rdet-apps/benchmarks/bench_vs_mmrotate.py \
    --models oriented_rcnn --modes train --variants bf16-nchw --rounds 1 --repeat 1 --threads 2 --json "$OUT/cpu_oriented_rcnn_nchw.json"
fi

if want cpu_profile; then
  # where Oriented R-CNN's bf16 time goes on that CPU (its bf16 gain was 1.2x inference, 1.8x training)
  step cpu-profile 120 ${pin[@]+"${pin[@]}"} "$PY" packages/rdet-apps/benchmarks/bench_vs_mmrotate.py --models oriented_rcnn \
    --variants bf16 --rounds 1 --repeat 1 --threads 2 --profile 30
fi

if want diag_bt; then
  # the native backtrace of the smallest crashing test (a C++ error from our library)
  DBG=$(command -v cuda-gdb || command -v gdb)
  step diag_bt 60 "$DBG" -q -batch -ex 'set pagination off' -ex run -ex bt -ex 'x/4i $pc' \
    -ex 'info sharedlibrary' --args "$PY" -m pytest -q -p no:cacheprovider \
    packages/rbox-ops-cuda/tests/test_points_in_polygons.py::test_compiled_op_checks_shapes
fi

if want loop; then
  step loop-demo 150 "$PY" packages/rdet-apps/benchmarks/bench_train_loop.py --device cuda --config demo --iters 200 --json "$OUT/loop_demo.json"
  # the loop again with one torch thread in the training process: do its CPU ops, with a
  # thread per core, fight the 8 workers for the cores (train_step's host time in the loop
  # against model-only's)?
  step loop-demo-1thread 60 "$PY" packages/rdet-apps/benchmarks/bench_train_loop.py --device cuda --config demo --iters 200 \
    --skip model demo --main-threads 1 --json "$OUT/loop_demo_1thread.json"
fi

if want ddp; then
  # the tests that failed on a one-GPU machine (more processes than GPUs), the CUDA prefetcher
  step ddp 120 env NVIDIA_TF32_OVERRIDE=0 "$PY" -m pytest -q -p no:cacheprovider packages/rdet-apps/tests/test_engine.py packages/rdet-apps/tests/test_engine_device.py -k "ddp or more_processes or cuda or deferred or prefetcher"
fi

if want dota; then
  step loop-dota 150 "$PY" packages/rdet-apps/benchmarks/bench_train_loop.py --device cuda --config retinanet-dota --iters 40 --json "$OUT/loop_dota.json"
fi

if want demo; then
  step demo 300 "$PY" -m rdet_apps demo --work-dir "$ROOT/.gpu_cache/demo"
fi

if want suite; then
  step suite 330 env NVIDIA_TF32_OVERRIDE=0 "$PY" -m pytest -q -n 14 --dist loadfile -p no:cacheprovider --continue-on-collection-errors -rfE packages plugins
fi

echo "=== done at +$(($(date +%s) - T0)) s; failed steps: ${FAILED[*]:-none}" | tee -a "$LOG"
((${#FAILED[@]} == 0))
