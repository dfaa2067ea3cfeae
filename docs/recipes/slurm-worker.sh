#!/bin/bash
# merbench workers as a SLURM job array: each array task takes a shared run's pending cells
# from its results store until none are left (docs/scale-out.md).
#
#   merbench run --storage "$MERBENCH_STORAGE" --enqueue-only ...   # once, anywhere
#   MERBENCH_STORAGE=postgresql://user@dbhost/mer sbatch --array=1-16 slurm-worker.sh
#
# Every node must see the same merbench and plugin versions, the datasets at the paths of
# datasets.toml, and MERBENCH_CACHE on a filesystem all nodes share (the audio and feature caches
# are written once, atomically). Resources below are per worker; set them with sbatch options
# (--cpus-per-task, --mem, --time, --gres=gpu:1 for a GPU cell) rather than editing this file.
#SBATCH --job-name=merbench-worker
#SBATCH --cpus-per-task=1
#SBATCH --output=merbench-worker-%A_%a.out
set -euo pipefail

: "${MERBENCH_STORAGE:?set MERBENCH_STORAGE to the results store URL of the run (postgresql://...)}"
# One torch thread per CPU the job was given; the run stores its own count for torch cells.
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
# MERBENCH_WORKER_ARGS: more 'merbench worker' options, e.g. "--run NAME --config /shared/datasets.toml".
# shellcheck disable=SC2086
exec ${MERBENCH:-merbench} worker --storage "$MERBENCH_STORAGE" ${MERBENCH_WORKER_ARGS:-}
