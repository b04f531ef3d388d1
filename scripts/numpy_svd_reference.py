# Reference for issue 3: values-only SVD of 450 matrices of 512x512 (50 checkpoints x 9), numpy/OpenBLAS.
import numpy as np, time, json
rng = np.random.default_rng(0)
mats = [rng.standard_normal((512, 512)).astype(np.float32) for _ in range(450)]
t = time.perf_counter()
for m in mats:
    np.linalg.svd(m, compute_uv=False)
print(json.dumps({"numpy_svd_450x512x512_float32_s": time.perf_counter() - t}))
