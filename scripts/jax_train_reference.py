"""JAX/CPU reference training-throughput benchmark (for comparison with the Rust tool).

Measures samples/s of SGD training of an MLP 784-512-512-512-512-10 (ReLU, biases,
float32, He-normal weights, zero biases) on the Fashion-MNIST training set:
mean softmax cross-entropy, batch 128, SGD momentum 0.9 (PyTorch convention:
v = m*v + g; p -= lr*v), lr 0.005, no weight decay.
  --rule bp : ordinary backprop (jax.grad)
  --rule fa : feedback alignment; each linear layer is a jax.custom_vjp whose backward
              returns grad_input = delta @ B_l (B_l fixed, He-normal, same shape as W_l)
              instead of delta @ W_l; weight grads are still delta^T h_{l-1}.
  --rule ifa --align-angle DEG : fa whose B_l starts at cosine alpha = cos(DEG) with W_l
              (SPEC section 2: R_l drawn like plain fa's B_l, its component along W_l
              removed, B_l = |R_l| (alpha W_l/|W_l| + sqrt(1 - alpha^2) Rperp_l/|Rperp_l|)).
The whole step (forward, backward, momentum update) is one jax.jit function with the
params/velocity buffers donated. Each epoch's shuffled data is one device array built
before timing and sliced per step inside the jit (lax.dynamic_slice). Per epoch:
60000 samples shuffled with a fixed seed; the final partial batch (96 samples) is
DROPPED, so 468 steps = 59904 samples are trained and counted. Compilation is done
(warm-up on a throwaway copy of the state) before timing; block_until_ready at the end.

Install:  pip install "jax[cpu]"     Data: apt-get install -y dataset-fashion-mnist
Usage:    python3 jax_train_reference.py --rule bp|fa|ifa [--align-angle DEG] [--epochs N]
                                         [--seed S] [--data DIR] [--check]
Output:   one JSON line on stdout. --check instead trains N epochs (default 1) with the
          given rule and seed and prints first/last loss averages and the test accuracy
          after every epoch: an independent check of diag's accuracies (bp: ~80-84% after 1).
"""
import argparse, gzip, json, os, statistics, struct, time
import numpy as np
import jax, jax.numpy as jnp

SIZES = [784, 512, 512, 512, 512, 10]
BATCH, LR, MOM = 128, 0.005, 0.9

def load_idx(data_dir, name):
    path = os.path.join(data_dir, name)
    opener = open if os.path.exists(path) else gzip.open
    with opener(path if os.path.exists(path) else path + ".gz", "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)

def load_split(data_dir, prefix):
    x = load_idx(data_dir, f"{prefix}-images-idx3-ubyte").reshape(-1, 784).astype(np.float32) / 255.0
    y = load_idx(data_dir, f"{prefix}-labels-idx1-ubyte").astype(np.int32)
    return x, y

def he_normal(key, shape):  # shape = (fan_out, fan_in), PyTorch layout
    return jax.random.normal(key, shape, jnp.float32) * np.sqrt(2.0 / shape[1])

def soft_align(w, r, alpha):  # SPEC section 2, in W's layout (B here is B_l^T there)
    wn = w / jnp.linalg.norm(w)
    rperp = r - jnp.vdot(r, wn) * wn
    return jnp.linalg.norm(r) * (alpha * wn + np.sqrt(1.0 - alpha ** 2) * rperp / jnp.linalg.norm(rperp))

def init(key, alpha=None):
    kw, kb = jax.random.split(key)
    wk, bk = jax.random.split(kw, len(SIZES) - 1), jax.random.split(kb, len(SIZES) - 1)
    params = [(he_normal(wk[i], (o, n)), jnp.zeros((o,), jnp.float32))
              for i, (n, o) in enumerate(zip(SIZES[:-1], SIZES[1:]))]
    fb = [he_normal(bk[i], (o, n)) for i, (n, o) in enumerate(zip(SIZES[:-1], SIZES[1:]))]
    if alpha is not None:
        fb = [soft_align(w, r, alpha) for (w, _), r in zip(params, fb)]
    return params, fb

@jax.custom_vjp
def fa_linear(x, w, b, B):
    return x @ w.T + b

def _fa_fwd(x, w, b, B):
    return x @ w.T + b, (x, B)

def _fa_bwd(res, delta):
    x, B = res
    return delta @ B, delta.T @ x, delta.sum(0), jnp.zeros_like(B)

fa_linear.defvjp(_fa_fwd, _fa_bwd)

def forward(params, fb, x, rule):
    for i, (w, b) in enumerate(params):
        x = fa_linear(x, w, b, fb[i]) if rule in ("fa", "ifa") else x @ w.T + b
        if i < len(params) - 1:
            x = jax.nn.relu(x)
    return x

def loss_fn(params, fb, x, y, rule):
    logp = jax.nn.log_softmax(forward(params, fb, x, rule))
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

def make_step(rule):
    def step(params, vel, fb, xs, ys, i):
        x = jax.lax.dynamic_slice_in_dim(xs, i * BATCH, BATCH)
        y = jax.lax.dynamic_slice_in_dim(ys, i * BATCH, BATCH)
        loss, g = jax.value_and_grad(loss_fn)(params, fb, x, y, rule)
        vel = jax.tree.map(lambda v, gi: MOM * v + gi, vel, g)
        params = jax.tree.map(lambda p, v: p - LR * v, params, vel)
        return params, vel, loss
    return jax.jit(step, donate_argnums=(0, 1))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rule", choices=["bp", "fa", "ifa"], default="bp")
    ap.add_argument("--align-angle", type=float, default=None, help="ifa: initial angle in degrees")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    if (a.rule == "ifa") != (a.align_angle is not None):
        ap.error("--align-angle is required with --rule ifa and only allowed with it")
    alpha = None if a.align_angle is None else float(np.cos(np.radians(a.align_angle)))
    xtr, ytr = load_split(a.data, "train")
    steps = len(xtr) // BATCH  # 468; last partial batch of 96 dropped
    params, fb = init(jax.random.PRNGKey(a.seed), alpha)
    if a.check:
        xte, yte = load_split(a.data, "t10k")
        logits_fn = jax.jit(lambda p, x: forward(p, fb, x, a.rule))
        test_acc = []
    vel = jax.tree.map(jnp.zeros_like, params)
    step = make_step(a.rule)
    rng = np.random.default_rng(a.seed)
    rates, total_s, losses = [], 0.0, []
    for ep in range(a.epochs):
        perm = rng.permutation(len(xtr))[:steps * BATCH]
        xs, ys = jnp.asarray(xtr[perm]), jnp.asarray(ytr[perm])
        if ep == 0:  # warm-up / compile on a throwaway copy of the state (not timed)
            jax.block_until_ready(step(jax.tree.map(jnp.copy, params),
                                       jax.tree.map(jnp.copy, vel), fb, xs, ys, 0))
        jax.block_until_ready((xs, ys))
        t0 = time.perf_counter()
        for i in range(steps):
            params, vel, loss = step(params, vel, fb, xs, ys, i)
            if a.check:
                losses.append(loss)
        jax.block_until_ready(params)
        dt = time.perf_counter() - t0
        total_s += dt
        rates.append(steps * BATCH / dt)
        if a.check:
            logits = np.asarray(logits_fn(params, jnp.asarray(xte)))
            test_acc.append(round(float(np.mean(np.argmax(logits, 1) == yte)), 4))
    if a.check:
        l = np.asarray(jnp.stack(losses))
        print(json.dumps({"check": True, "rule": a.rule, "align_angle_deg": a.align_angle, "seed": a.seed,
                          "steps_per_epoch": steps, "loss_first50": float(l[:50].mean()),
                          "loss_last50": float(l[-50:].mean()), "peak_loss": float(l.max()),
                          "peak_loss_step": int(l.argmax()), "test_accuracy_per_epoch": test_acc}))
        return
    print(json.dumps({"tool": "jax", "jax_version": jax.__version__, "rule": a.rule,
                      "samples": steps * BATCH * a.epochs, "seconds": round(total_s, 4),
                      "samples_per_s": round(statistics.median(rates), 1),
                      "epoch_samples_per_s": [round(r, 1) for r in rates],
                      "last_batch": "dropped (96 samples/epoch)", "batch": BATCH,
                      "threads": len(os.sched_getaffinity(0)), "device": str(jax.devices()[0])}))

if __name__ == "__main__":
    main()
