# shellcheck shell=bash
# Sourced by the experiment scripts (experiments/{methods,cells,approx,ranks,quality_time}.sh):
# where things go, the environment knobs, the nomad binary, the data sets, and one resumable
# `nomad run`. Not an experiment itself.
#
# Knobs (environment), shared by every script:
#   EXP_LIMIT=N     use only the first N rows of each data set (smoke test): tables and figures
#                   then go to experiments/out/results_limitN/, docs/ is left alone
#   EXP_SEEDS=S     runs per setting, seeds 42, 43, ... (each script has its own default)
#   EXP_SET="k=v …" extra `--set` assignments for every nomad run, e.g. "optimizer.epochs=20"
#   EXP_DATA=fmnist|blobs   the data of cells.sh, approx.sh and ranks.sh (default fmnist)
#   EXP_BLOBS_N=N, EXP_BLOBS_D=D   size of the generated set (default 200000 x 128)
#   EXP_BLOBS_CACHE=DIR   where generated sets are kept (default experiments/out/blobs, shared
#                   with experiments/bench/large.sh)
#   EXP_RESULTS=DIR where tables and figures go (default docs/results, or the smoke folder)
#   EXP_WORK=DIR    run folders and data (default experiments/out/exp_full or exp_limitN)
#   NOMAD=path      the nomad binary (default build/nomad, built with cmake if missing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PY=/usr/bin/python3
EXP_NAME=$(basename "$0" .sh)

EXP_LIMIT=${EXP_LIMIT:-0}
[[ $EXP_LIMIT =~ ^[0-9]+$ ]] || { echo "$EXP_NAME: EXP_LIMIT=$EXP_LIMIT: expected a row count" >&2; exit 2; }
if [[ $EXP_LIMIT -gt 0 ]]; then
    EXP_TAG=limit$EXP_LIMIT
    RESULTS=${EXP_RESULTS:-$ROOT/experiments/out/results_$EXP_TAG}
else
    EXP_TAG=full
    RESULTS=${EXP_RESULTS:-$ROOT/docs/results}
fi
WORK=${EXP_WORK:-$ROOT/experiments/out/exp_$EXP_TAG}
mkdir -p "$RESULTS" "$WORK"
RESULTS=$(cd "$RESULTS" && pwd)
WORK=$(cd "$WORK" && pwd)
# docs/results.md is only rewritten by full-scale runs into docs/results/.
DOC=""
[[ $RESULTS == "$ROOT/docs/results" ]] && DOC=$ROOT/docs/results.md

# EXP_SET as --set arguments. A sweep folder refuses runs made with other settings, so sweeps
# with EXP_SET go to their own folder: SET_TAG = "" or "-set-<hash of EXP_SET>".
SETS=()
for kv in ${EXP_SET:-}; do SETS+=(--set "$kv"); done
SET_TAG=""
[[ -n ${EXP_SET:-} ]] && SET_TAG=-set-$(printf '%s' "$EXP_SET" | md5sum | cut -c1-8)

NOMAD=${NOMAD:-build/nomad}
if [[ ! -x $NOMAD && $NOMAD == build/nomad ]]; then
    echo "== building build/nomad" >&2
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
    cmake --build build -j"$(nproc)" >&2
fi
[[ -x $NOMAD ]] || { echo "$EXP_NAME: $NOMAD: no such program" >&2; exit 2; }
NOMAD=$(cd "$(dirname "$NOMAD")" && pwd)/$(basename "$NOMAD")

# The figures need matplotlib (Debian's python3-matplotlib).
exp_need_matplotlib() {
    if ! $PY -c 'import matplotlib' 2>/dev/null; then
        echo "installing Debian's python3-matplotlib (needs root)" >&2
        apt-get install -y python3-matplotlib >&2
    fi
}

# exp_data NAME: sets DATA (rows to fit, .npy), LABELS (.npy) and DATA_TITLE for NAME =
# fmnist (Debian's Fashion-MNIST, 70,000 x 784 u8) or blobs (experiments/make_manifold_blobs.py,
# EXP_BLOBS_N x EXP_BLOBS_D float32, generated once and cached in experiments/out/blobs/).
# With EXP_LIMIT the first EXP_LIMIT rows are copied out; the full sets are used in place.
exp_data() {
    local dir=$WORK/data
    mkdir -p "$dir"
    case $1 in
        fmnist)
            if [[ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
                echo "$EXP_NAME: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist," \
                    "or bash tests/install_deps.sh)" >&2
                exit 2
            fi
            $PY experiments/exp_data.py fmnist "$dir/fmnist" --limit "$EXP_LIMIT"
            DATA=$dir/fmnist/fmnist.npy LABELS=$dir/fmnist/labels.npy ;;
        blobs)
            local n=${EXP_BLOBS_N:-200000} d=${EXP_BLOBS_D:-128}
            local cache=${EXP_BLOBS_CACHE:-$ROOT/experiments/out/blobs}
            local x=$cache/blobs_${n}x${d}_s0.npy y=$cache/blobs_${n}x${d}_s0_labels.npy
            if [[ ! -f $x || ! -f $y ]]; then
                mkdir -p "$cache"
                echo "== generating $n x $d manifold blobs (cached in ${cache#$ROOT/})" >&2
                $PY experiments/make_manifold_blobs.py "$n" "$d" "$x" --labels "$y" --seed 0
            fi
            if [[ $EXP_LIMIT -gt 0 ]]; then
                $PY experiments/exp_data.py slice "$x" "$y" "$dir/blobs" --limit "$EXP_LIMIT"
                DATA=$dir/blobs/blobs.npy LABELS=$dir/blobs/labels.npy
            else
                DATA=$x LABELS=$y
            fi ;;
        *) echo "$EXP_NAME: unknown data set '$1' (expected fmnist or blobs)" >&2; exit 2 ;;
    esac
    DATA_N=$($PY experiments/exp_data.py rows "$DATA")
    DATA_D=$($PY experiments/exp_data.py cols "$DATA")
    case $1 in
        fmnist) DATA_TITLE="Fashion-MNIST ($DATA_N x $DATA_D)" ;;
        blobs) DATA_TITLE="manifold blobs ($DATA_N x $DATA_D, 50 clusters)" ;;
    esac
}

# exp_run DIR ARGS...: `nomad run ARGS --out DIR --quiet` unless DIR holds a finished run of
# the same command and config contents (cmd.txt); the run is written to DIR.tmp and renamed
# when it finished.
# ARGS may start with a launcher (mpirun ... --) : everything before "--" is put in front.
# A failed run leaves only DIR/error.txt (nomad's error line) and returns 1.
exp_run() {
    local dir=$1; shift
    local launch=() args=()
    if [[ " $* " == *" -- "* ]]; then
        while [[ $1 != -- ]]; do launch+=("$1"); shift; done
        shift
    fi
    args=("$@")
    local cmd="${launch[*]} nomad run ${args[*]}" a
    # A config file edited since a run makes that run stale: its contents are part of the key.
    for a in "${args[@]}"; do
        [[ $a == *.yaml && -f $a ]] && cmd+=" [$(basename "$a") $(md5sum <"$a" | cut -c1-12)]"
    done
    if [[ -f $dir/run.json && -f $dir/cmd.txt && $(cat "$dir/cmd.txt") == "$cmd" ]]; then
        echo "   (done before: ${dir#$ROOT/})" >&2
        return 0
    fi
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$(dirname "$dir")"
    local rc=0
    ${launch[@]+"${launch[@]}"} "$NOMAD" run "${args[@]}" --out "$dir.tmp" --quiet 2>"$dir.stderr" || rc=$?
    cat "$dir.stderr" >&2
    if [[ $rc -ne 0 ]]; then
        rm -rf "$dir.tmp" && mkdir -p "$dir"
        local why
        why=$(grep -m1 'error' "$dir.stderr" || true)
        echo "exit status $rc: ${why:-no error message}" >"$dir/error.txt"
        rm -f "$dir.stderr"
        return 1
    fi
    rm -f "$dir.stderr"
    printf '%s\n' "$cmd" >"$dir.tmp/cmd.txt"
    mv "$dir.tmp" "$dir"
}

# exp_score DATA LABELS DIR SEED: DIR/embedding.npy -> DIR/eval.json, scored as every layout
# in these experiments is (the paper's protocol: NP@10 and 10-NN accuracy on 5,000 query
# points, 5,000 random triplets; the query sample depends on SEED only).
exp_score() {
    local data=$1 labels=$2 dir=$3 seed=$4
    [[ -f $dir/eval.json && $dir/eval.json -nt $dir/embedding.npy ]] && return 0
    "$NOMAD" eval "$data" "$dir/embedding.npy" --labels "$labels" --k 10 --queries 5000 --triplets 5000 \
        --seed "$seed" --json >"$dir/eval.json.tmp"
    mv "$dir/eval.json.tmp" "$dir/eval.json"
}

# exp_score_head DATA LABELS DIR ROWS: DIR's layout scored on its first ROWS rows alone (their
# neighbours among themselves), into DIR/first_ROWS/eval.json; DATA and LABELS are those rows.
exp_score_head() {
    local data=$1 labels=$2 dir=$3 rows=$4
    local part=$dir/first_$rows
    mkdir -p "$part"
    if [[ ! -f $part/embedding.npy || $part/embedding.npy -ot $dir/embedding.npy ]]; then
        $PY -c "import numpy as np, sys; e = np.load(sys.argv[1]); np.save(sys.argv[2], e[:int(sys.argv[3])])" \
            "$dir/embedding.npy" "$part/embedding.npy" "$rows"
    fi
    exp_score "$data" "$labels" "$part" 42
}

# openTSNE 1.0.4 from PyPI, in a venv of its own over Debian's python3 (PEERS_VENV, as
# experiments/bench/fashion_mnist.sh): exp_opentsne_venv installs it when missing;
# exp_opentsne DIR DATA LABELS fits its defaults (DIR/embedding.npy, DIR/peer.json with the fit
# seconds) unless DIR has them, then scores the layout (exp_score, seed 42).
exp_opentsne_venv() {
    VENV=${PEERS_VENV:-$ROOT/experiments/out/peers-venv}
    if ! "$VENV/bin/python" -c 'import openTSNE' 2>/dev/null; then
        echo "installing openTSNE 1.0.4 from PyPI into ${VENV#$ROOT/}" >&2
        $PY -m venv --system-site-packages "$VENV"
        "$VENV/bin/pip" install --quiet openTSNE==1.0.4 >&2
    fi
}
exp_opentsne() {
    if [[ ! -f $1/embedding.npy || ! -f $1/peer.json ]]; then
        mkdir -p "$1"
        "$VENV/bin/python" experiments/exp_peers.py opentsne "$2" "$1/embedding.npy" "$1/peer.json"
    fi
    exp_score "$2" "$3" "$1" 42
}

# exp_seeds DEFAULT: the seeds 42, 43, ... for EXP_SEEDS (or DEFAULT) runs per setting.
exp_seeds() {
    local n=${EXP_SEEDS:-$1}
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "$EXP_NAME: EXP_SEEDS=$n: expected a count >= 1" >&2; exit 2; }
    seq 42 $((41 + n))
}

# exp_sweep OUTDIR SWEEP-ARGS...: `nomad sweep` (resumable). Failed runs are recorded in the
# sweep's results.csv and the experiment goes on; a refused sweep (exit 2) stops it.
exp_sweep() {
    local out=$1; shift
    local rc=0
    "$NOMAD" sweep "$@" --out "$out" || rc=$?
    if [[ $rc -eq 1 ]]; then
        echo "$EXP_NAME: some runs of ${out#$ROOT/} failed (see its results.md); going on" >&2
    elif [[ $rc -ne 0 ]]; then
        echo "$EXP_NAME: nomad sweep refused (exit $rc)" >&2
        exit "$rc"
    fi
}

# exp_stamp: "N cores, date, nomad <commit>" for table titles.
exp_stamp() {
    echo "$(nproc) cores, $(date -u +%Y-%m-%d), nomad $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
}

# exp_publish NAME: print RESULTS/NAME.md and, for a full-scale run into docs/results/, copy it
# into docs/results.md between its markers.
exp_publish() {
    cat "$RESULTS/$1.md"
    if [[ -n $DOC && -f $DOC ]]; then
        $PY experiments/exp_report.py fill-doc "$DOC" "$1" "$RESULTS/$1.md"
    fi
    echo "(written to ${RESULTS#$ROOT/}/$1.md and $1.png)" >&2
}
