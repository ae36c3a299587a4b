"""The legacy protocol against a literal, loop-by-loop transcription of the anchors' accuracy()."""

import numpy as np

from posekit.evaluation.legacy import LegacyAccumulator, anchor_target_heatmaps, argmax_coords, batch_accuracy


def reference_accuracy(output: np.ndarray, target: np.ndarray, thr: float = 0.5) -> np.ndarray:
    """tllib/UDAPE semantics written as plainly as possible (frozen reference)."""
    def max_preds(maps):
        n, k, _h, w = maps.shape
        preds = np.zeros((n, k, 2))
        for i in range(n):
            for j in range(k):
                flat = maps[i, j].reshape(-1)
                idx = int(np.argmax(flat))
                if flat[idx] > 0:
                    preds[i, j] = [idx % w, idx // w]
        return preds

    n, k, h, w = output.shape
    pred, gt = max_preds(output), max_preds(target)
    norm = np.ones((n, 2)) * np.array([h, w]) / 10
    acc = np.zeros(k)
    for j in range(k):
        dists = []
        for i in range(n):
            if gt[i, j, 0] > 1 and gt[i, j, 1] > 1:
                dists.append(np.linalg.norm(pred[i, j] / norm[i] - gt[i, j] / norm[i]))
        acc[j] = (np.array(dists) < thr).mean() if dists else -1
    return acc


def test_matches_reference_on_random_maps():
    rng = np.random.default_rng(0)
    for _ in range(5):
        kp = rng.uniform(-10, 266, (8, 16, 3))
        weights = (rng.random((8, 16)) > 0.2).astype(np.float32)
        gt_maps = anchor_target_heatmaps(kp, weights, 256, 64, 2.0)
        noise = rng.normal(0, 3, kp.shape)
        pred_maps = anchor_target_heatmaps(kp + noise, np.ones_like(weights), 256, 64, 2.0)
        pred_maps[:, :2] = -1.0  # peaks ≤ 0 → predicted at (0, 0)
        np.testing.assert_allclose(batch_accuracy(pred_maps, gt_maps), reference_accuracy(pred_maps, gt_maps))


def test_hand_made_cases():
    def onehot(x, y, size=64):
        m = np.zeros((size, size), np.float32)
        m[y, x] = 1
        return m

    gt = np.stack([onehot(10, 10), onehot(1, 10), onehot(20, 20), onehot(30, 30)])[None]
    pred = np.stack([onehot(13, 10), onehot(1, 10), onehot(23, 21), onehot(30, 30) * 0])[None]
    acc = batch_accuracy(pred, gt)
    # joint 0: 3 px / 6.4 = 0.47 < 0.5 → correct; joint 1: gt x = 1 → not counted;
    # joint 2: sqrt(10) = 3.16 px → 0.49 → correct; joint 3: pred peak 0 → (0, 0) → wrong
    assert acc.tolist() == [1.0, -1.0, 1.0, 0.0]
    far = np.stack([onehot(14, 10)])[None]
    assert batch_accuracy(far, gt[:, :1]).tolist() == [0.0]  # 4 px / 6.4 = 0.625


def test_gt_maps_round_and_drop_like_the_anchors():
    kp = np.array([[[41.9, 42.0, 1], [-40.0, 5.0, 1], [100.0, 100.0, 1], [-20.0, 40.0, 1]]])
    maps = anchor_target_heatmaps(kp, np.array([[1.0, 1.0, 0.0, 1.0]]), 256, 64, 2.0)
    assert argmax_coords(maps)[0, 0].tolist() == [int(41.9 / 4 + 0.5), int(42 / 4 + 0.5)]
    assert maps[0, 1].max() == 0  # ±3σ patch entirely outside (mu_x = int(-9.5) = -9)
    assert maps[0, 2].max() == 0  # weight 0
    # rounded centre outside (mu_x = int(-4.5) = -4) although part of the ±3σ patch is on the map: no map
    assert maps[0, 3].max() == 0


def test_visibility_is_the_rounded_centre_not_the_patch():
    """generate_target zeroes a joint whose rounded centre int(x/4 + 0.5) is off the 64-px map, even when part of
    its ±3σ patch would be on it: x = 258 → mu = 65, skipped (the patch rule drew columns 59-63 and scored it)."""
    kp = np.array([[[258.0, 100.0, 1], [253.9, 100.0, 1], [100.0, 254.0, 1], [-1.9, 100.0, 1]]])
    maps = anchor_target_heatmaps(kp, np.ones((1, 4)), 256, 64, 2.0)
    assert maps[0, 0].max() == 0  # mu_x = 65 ≥ 64
    assert maps[0, 1].max() == 1 and argmax_coords(maps)[0, 1].tolist() == [63, 25]  # mu_x = int(63.975) = 63
    assert maps[0, 2].max() == 0  # mu_y = int(64.0) = 64
    assert maps[0, 3].max() == 1 and argmax_coords(maps)[0, 3, 0] == 0  # int(0.025) = 0: on the map
    # through the metric: the joint at x = 258 is never counted, whatever the prediction
    pred = anchor_target_heatmaps(np.array([[[252.0, 100.0, 1]]]), np.ones((1, 1)), 256, 64, 2.0)
    assert batch_accuracy(pred, maps[:, :1]).tolist() == [-1.0]
    assert batch_accuracy(pred, maps[:, 1:2]).tolist() == [1.0]


def test_accumulator_weights_batches_by_size_and_skips_minus_one():
    acc = LegacyAccumulator(2)
    acc.update(np.array([1.0, -1.0]), 32)
    acc.update(np.array([0.0, 0.5]), 8)
    np.testing.assert_allclose(acc.result(), [32 / 40, 0.5])
