#!/usr/bin/env bash
# Prepare, on a machine with pip and ../shared, what benchmarks/gpu.sh needs on a bare GPU machine
# that reaches no index: .whl/ (wheels the CUDA image lacks, for its Python) and .gpu_shared/ (the
# parts of ../shared that the GPU tests read, under the 64 MiB a device call carries). The suite
# step's golden cases cfa_oc, sasm_oc, oriented_reppoints_le135 and rotated_reppoints_le135 do not
# fit in that and are left out: their tests fail there, as expected.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${RDET_SHARED:-$ROOT/../shared}
PYVER=${GPU_PYTHON_VERSION:-3.12}
cd "$ROOT"
rm -rf .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl shapely==2.2.0 hatchling==1.33.0 trove-classifiers==2026.9.21.13 e2cnn==0.2.3
rm -rf .gpu_shared && mkdir -p .gpu_shared/golden/mmrotate-0.3.4/models
cp -r "$SHARED/configs" "$SHARED/data" .gpu_shared/
cp -r "$SHARED/golden/dota_devkit" .gpu_shared/golden/
find "$SHARED/golden/mmrotate-0.3.4" -maxdepth 1 -type f -exec cp {} .gpu_shared/golden/mmrotate-0.3.4/ \;
cp -r "$SHARED/golden/mmrotate-0.3.4/redet" .gpu_shared/golden/mmrotate-0.3.4/
models=$SHARED/golden/mmrotate-0.3.4/models
cp "$models/cases.json" .gpu_shared/golden/mmrotate-0.3.4/models/
for case in retinanet_obb_le90 oriented_rcnn_le90 rotated_fcos_le90 rotated_atss_le90 s2anet_le135 r3det_oc; do
  cp "$models/$case".* "$models/${case}_result.npz" .gpu_shared/golden/mmrotate-0.3.4/models/
done
du -sh .whl .gpu_shared
