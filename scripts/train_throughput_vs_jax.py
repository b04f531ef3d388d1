"""Training throughput of `diag bench train` against the JAX reference, measured in one run.

The machine's speed drifts by +-15% over minutes (shared host), so the two tools are run
alternately, ROUNDS times per rule, each run timing EPOCHS epochs, and the medians and the
per-round ratios (diag/JAX, and each tool against diag's GEMM-only time of the same
products, timed in the same diag run) are printed as one JSON object.

    pip install "jax[cpu]"
    cargo build --release
    python3 scripts/train_throughput_vs_jax.py [ROUNDS] [EPOCHS]
"""
import json, os, statistics, subprocess, sys

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
EPOCHS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
HERE = os.path.dirname(os.path.abspath(__file__))
DIAG = os.path.join(HERE, "..", "target", "release", "diag")


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


summary = {"rounds": ROUNDS, "epochs_per_run": EPOCHS}
for rule in ["bp", "fa"]:
    diag, jax, gemm_only = [], [], []
    for _ in range(ROUNDS):
        d = run([DIAG, "bench", "train", "--rule", rule, "--epochs", str(EPOCHS), "--json"])
        j = run([sys.executable, os.path.join(HERE, "jax_train_reference.py"), "--rule", rule, "--epochs", str(EPOCHS)])
        diag.append(d["samples_per_s"])
        gemm_only.append(d["gemm_only_samples_per_s"])
        jax.append(j["samples_per_s"])
        print(f"{rule}: diag {d['samples_per_s']:.0f} (GEMM-only {d['gemm_only_samples_per_s']:.0f})"
              f"  jax {j['samples_per_s']:.0f} samples/s", file=sys.stderr)
    summary[rule] = {
        "diag_samples_per_s": statistics.median(diag),
        "jax_samples_per_s": statistics.median(jax),
        "diag_gemm_only_samples_per_s": statistics.median(gemm_only),
        "ratio_diag_to_jax": statistics.median(d / j for d, j in zip(diag, jax)),
        "ratio_diag_to_gemm_only": statistics.median(d / g for d, g in zip(diag, gemm_only)),
        "ratio_jax_to_gemm_only": statistics.median(j / g for j, g in zip(jax, gemm_only)),
        "diag_runs": [round(v) for v in diag],
        "gemm_only_runs": [round(v) for v in gemm_only],
        "jax_runs": [round(v) for v in jax],
    }
print(json.dumps(summary, indent=1))
