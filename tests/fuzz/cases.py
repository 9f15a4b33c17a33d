"""The fuzz cases, area by area: each an entry point, a bad or edge input, what a clear error may name,
whether the contract allows the input (from :mod:`posemods._shapes`'s predicates) and a check of the result."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from posemods._shapes import is_positive_int, is_positive_real, is_real, is_size
from tests.fuzz.classification import Case, shape_check

WEIRD_INTS = [1, 2, 3, 4, 0, -1, np.int64(2), np.int32(4), 2.0, 2.5, math.nan, "4", None, True, 1 + 0j]
WEIRD_REALS = [4.0, 2, 0.5, np.float32(2.0), 0.0, -1.0, math.nan, math.inf, -math.inf, "4", None, True, 1 + 0j]


def module_cases():
    import posemods

    # KMM: every pair of hyperparameters from the pool, then a forward on a valid input.
    for c in WEIRD_INTS:
        for j in WEIRD_INTS:
            valid = is_positive_int(c) and is_positive_int(j)

            def call(c=c, j=j, valid=valid):
                module = posemods.KMM(c, j, backend="reference")
                if valid:
                    f = torch.randn(2, int(c), 3, 3)
                    return module(f, f, torch.rand(2, int(j), 6, 6))
                return module

            check = shape_check((2, int(j), 6, 6)) if valid else None
            yield Case("modules", f"KMM({c!r}, {j!r})", call, ("in_channels", "num_joints"), valid, check)

    # DCA, DA, CrossAttention, DeformableConvMotion: one hyperparameter at a time from the pool.
    def dca(operator):
        return lambda dim, heads, points: posemods.DCA(dim, heads, points, operator=operator, backend="reference")

    builders = {
        "DCA": (dca("dca"), ("dim", "num_heads", "num_points")),
        "DA": (dca("da"), ("dim", "num_heads", "num_points")),
        "DeformableConvMotion": (
            lambda dim, heads, points: posemods.DeformableConvMotion(dim, heads, points, backend="reference"),
            ("dim", "num_heads", "num_points"),
        ),
        "CrossAttention": (lambda dim, heads, _: posemods.CrossAttention(dim, heads), ("dim", "num_heads")),
    }
    for label, (build, params) in builders.items():
        for param in params:
            for value in WEIRD_INTS:
                args = {"dim": 8, "heads": 2, "points": 2}
                args[{"dim": "dim", "num_heads": "heads", "num_points": "points"}[param]] = value
                valid = is_positive_int(value) and (param != "dim" or int(value) % 2 == 0)
                if param == "num_heads" and is_positive_int(value):
                    valid = 8 % int(value) == 0

                def call(build=build, args=args, valid=valid, label=label):
                    module = build(args["dim"], args["heads"], args["points"])
                    if not valid:
                        return module
                    dim = int(args["dim"])
                    x = torch.randn(1, 6, dim)
                    if label == "CrossAttention":
                        return module(x, torch.randn(1, 4, dim))
                    return module(x, torch.randn(1, 6, dim), hw=(2, 3))

                dim = int(args["dim"]) if valid else 0
                yield Case("modules", f"{label}({param}={value!r})", call, params, valid if valid is False else None,
                           shape_check((1, 6, dim)) if valid else None)  # fmt: skip

    # HKM / BMD: mlp_ratio from the pool (dim 4: a string ratio repeated stays small), and dim.
    for label in ("HKM", "BMD"):
        for ratio in WEIRD_REALS:
            valid = is_positive_real(ratio)
            if valid and int(4 * float(ratio)) < 1:
                valid = None

            def call(label=label, ratio=ratio):
                if label == "HKM":
                    module = posemods.HKM(4, 2, num_heads=2, mlp_ratio=ratio, backend="reference")
                    return module(torch.randn(1, 3, 4, 4), hw=(2, 2))
                module = posemods.BMD(4, num_heads=2, num_points=2, mlp_ratio=ratio, backend="reference")
                feats = torch.randn(1, 3, 4, 4)
                return module(feats, feats[:, 1], hw=(2, 2))

            yield Case("modules", f"{label}(mlp_ratio={ratio!r})", call, ("mlp_ratio",), valid, shape_check((1, 4, 4)))

    # Forward inputs: empty batch, NaN, float64 and int inputs, wrong rank, another dtype than the weights.
    def kmm_inputs(b=2, dtype=torch.float32, nan=False, rank=4):
        module = posemods.KMM(4, 3, backend="reference")
        f = torch.randn(b, 4, 3, 3).to(dtype)
        h = torch.rand(b, 3, 6, 6).to(dtype)
        if nan and b:
            h[0, 0, 0, 0] = math.nan
        if rank != 4:
            f = f[0]
        return module(f, f, h)

    def dca_inputs(b=1, dtype=torch.float32, nan=False, rank=3, label="DCA", nan_context=False):
        module = {
            "DCA": lambda: posemods.DCA(8, 2, 2, backend="reference"),
            "DA": lambda: posemods.DCA(8, 2, 2, operator="da", backend="reference"),
            "DeformableConvMotion": lambda: posemods.DeformableConvMotion(8, 2, 2, backend="reference"),
            "CrossAttention": lambda: posemods.CrossAttention(8, 2),
        }[label]()
        x = torch.randn(b, 6, 8).to(dtype)
        if nan and b:
            x[0, 2, 0] = math.nan
        if rank != 3:
            x = x[0]
        z = torch.randn(b, 6, 8).to(dtype)
        if nan_context and b:
            z[0, 2, 0] = math.nan  # the constraint / context: it places the samples (or is attended)
        return module(x, z) if label == "CrossAttention" else module(x, z, hw=(2, 3))

    def hkm_bmd_inputs(b=1, dtype=torch.float32, nan=False, rank=4, label="HKM"):
        feats = torch.randn(b, 3, 4, 8).to(dtype)
        if nan and b:
            feats[0, 1, 1, 0] = math.nan
        if rank != 4:
            feats = feats[0]
        if label == "HKM":
            return posemods.HKM(8, 2, num_heads=2, backend="reference")(feats, hw=(2, 2))
        module = posemods.BMD(8, num_heads=2, num_points=2, backend="reference")
        return module(feats, feats[:, 1] if feats.dim() == 4 else feats[1], hw=(2, 2))

    def bmd_dc_inputs(b=1, dtype=torch.float32, nan=False, rank=4):
        feats = torch.randn(b, 3, 4, 8).to(dtype)
        if nan and b:
            feats[0, 1, 1, 0] = math.nan
        if rank != 4:
            feats = feats[0]
        module = posemods.BMD(8, num_heads=2, num_points=2, operator="dc", backend="reference")
        if dtype == torch.bfloat16:
            module = module.to(dtype)
        return module(feats, feats[:, 1] if feats.dim() == 4 else feats[1], hw=(2, 2))

    variants = {
        "B=0": dict(b=0),
        "NaN": dict(nan=True),
        "float64 input": dict(dtype=torch.float64),
        "int input": dict(dtype=torch.int64),
        "wrong rank": dict(rank=2),
    }
    targets = {
        "KMM": (kmm_inputs, lambda b: (b, 3, 6, 6), ("feat_prev", "feat_cur", "heatmap_prev")),
        **{
            label: (lambda label=label, **kw: dca_inputs(label=label, **kw), lambda b: (b, 6, 8), ("x", "context"))
            for label in ("DCA", "DA", "DeformableConvMotion", "CrossAttention")
        },
        **{
            label: (lambda label=label, **kw: hkm_bmd_inputs(label=label, **kw), lambda b: (b, 4, 8), ("feats",))
            for label in ("HKM", "BMD")
        },
        "BMD(operator='dc')": (bmd_dc_inputs, lambda b: (b, 4, 8), ("feats",)),
    }
    for label, (run, shape, names) in targets.items():
        extra = {"NaN in the constraint": dict(nan_context=True)} if run.__name__ == "<lambda>" and "x" in names else {}
        for variant, kwargs in {**variants, **extra}.items():
            b = kwargs.get("b", 1 if label != "KMM" else 2)
            valid = variant in ("B=0", "NaN")
            valid = valid or variant == "NaN in the constraint"
            # DA and DC are VREMD Table 6's rows (a) and (b): they never read the constraint F, so a NaN
            # there must leave the output finite (tests/modules/test_bmd.py checks they ignore F).
            reads_context = label not in ("DA", "DeformableConvMotion")
            nan_in = kwargs.get("nan", False) or (kwargs.get("nan_context", False) and reads_context)
            check = shape_check(shape(b), nan_in=nan_in) if valid else None
            yield Case("modules", f"{label} forward, {variant}", lambda run=run, kw=kwargs: run(**kw), names,
                       valid if valid else False, check)  # fmt: skip
    yield Case("modules", "BMD(operator='dc') forward, bfloat16", lambda: bmd_dc_inputs(dtype=torch.bfloat16),
               ("bfloat16", "dtype", "feats"), None, shape_check((1, 4, 8)))  # fmt: skip


def functional_cases():
    from posemods import functional

    for scale in [None, *WEIRD_REALS, torch.tensor(2.0), torch.ones(2)]:
        ok_scale = scale is None or is_real(scale) or (isinstance(scale, torch.Tensor) and scale.numel() == 1)
        finite = scale is None or (ok_scale and math.isfinite(float(scale)))
        q = torch.rand(2, 3, 3, 3)
        yield Case("functional", f"kinematics_attention(scale={scale!r})",
                   lambda s=scale, q=q: functional.kinematics_attention(q, q, torch.rand(2, 3, 5, 5), scale=s,
                                                                        backend="reference"),
                   ("scale",), ok_scale or False, shape_check((2, 3, 5, 5), finite=finite))  # fmt: skip
        t, f = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
        yield Case("functional", f"keypoint_mask(scale={scale!r})",
                   lambda s=scale, t=t, f=f: functional.keypoint_mask(t, f, scale=1.0 if s is None else s,
                                                                      backend="reference"),
                   ("scale",), ok_scale or False, shape_check((2, 5), finite=finite))  # fmt: skip
        qkvl = (torch.randn(1, 6, 2, 4), torch.randn(1, 2, 3, 2, 4), torch.randn(1, 2, 3, 2, 4),
                torch.rand(1, 6, 2, 2, 2))  # fmt: skip
        yield Case("functional", f"deformable_cross_attention(scale={scale!r})",
                   lambda s=scale, qkvl=qkvl: functional.deformable_cross_attention(*qkvl, scale=s,
                                                                                    backend="reference"),
                   ("scale",), ok_scale or False, None)  # fmt: skip

    def kinematics(b=2, j=3, mismatch=None, nan=False, dtype=torch.float32):
        q, k, v = (torch.rand(b, j, 3, 3) * 4).to(dtype), (torch.rand(b, j, 3, 3) * 4).to(dtype), torch.rand(b, j, 5, 5)
        v = v.to(dtype)
        if mismatch == "key":
            k = torch.rand(b, j + 1, 3, 3)
        if mismatch == "value":
            v = torch.rand(b + 1, j, 5, 5)
        if mismatch == "dtype":
            k = k.double()
        if nan and b:
            q[0, 0, 0, 0] = math.nan
        return functional.kinematics_attention(q, k, v, backend="reference")

    for label, kw, valid in [
        ("B=0", dict(b=0), True), ("J=0", dict(j=0), None), ("NaN", dict(nan=True), True),
        ("key of other J", dict(mismatch="key"), False), ("value of other B", dict(mismatch="value"), False),
        ("key float64", dict(mismatch="dtype"), False), ("int inputs", dict(dtype=torch.int64), False),
    ]:  # fmt: skip
        b, j = kw.get("b", 2), kw.get("j", 3)
        yield Case("functional", f"kinematics_attention {label}", lambda kw=kw: kinematics(**kw),
                   ("query", "key", "value", "B", "J"), valid,
                   shape_check((b, j, 5, 5), nan_in=kw.get("nan", False)) if valid else None)  # fmt: skip

    def deformable(b=1, nan=False, op="dca"):
        qd, kd, vd = torch.randn(b, 6, 2, 4), torch.randn(b, 2, 3, 2, 4), torch.randn(b, 2, 3, 2, 4)
        locations = torch.rand(b, 6, 2, 2, 2)
        if nan and b:
            vd[0, 0, 0, 0, 0] = math.nan
            locations[0] = 0.25  # every point samples near pixel (0, 0), where the NaN is
        if op == "dca":
            return functional.deformable_cross_attention(qd, kd, vd, locations, backend="reference")
        return functional.deformable_attention(vd, locations, torch.softmax(torch.randn(b, 6, 2, 2), -1),
                                               backend="reference")  # fmt: skip

    for op in ("dca", "da"):
        for label, kw in [("B=0", dict(b=0)), ("NaN", dict(nan=True))]:
            check = shape_check((kw.get("b", 1), 6, 2, 4), nan_in=kw.get("nan", False))
            yield Case("functional", f"deformable_{op} {label}", lambda kw=kw, op=op: deformable(op=op, **kw),
                       ("query", "value", "locations", "B"), True, check)  # fmt: skip


def metric_cases():
    from posemods.metrics import pck, posetrack_map

    rng = np.random.default_rng(0)
    target = rng.uniform(0, 50, (2, 13, 2))
    pred = target + rng.normal(0, 1, target.shape)

    def pck_check(out):
        for name, value in out.items():
            assert math.isnan(value) or 0 <= value <= 100, (name, value)

    kinds = {"tensor": torch.as_tensor, "numpy": np.asarray, "list": lambda a: a.tolist()}
    for alpha in WEIRD_REALS:
        for kind, convert in kinds.items():
            yield Case("metrics", f"pck(alpha={alpha!r}, {kind})",
                       lambda a=alpha, c=convert: pck(c(pred), c(target), c(np.ones((2, 13))), c(np.full(2, 10.0)),
                                                      "penn_action", a),
                       ("alpha",), is_positive_real(alpha) or False, pck_check)  # fmt: skip
    bad_inputs = {
        "pred of 12 joints": (pred[:, :12], target, np.ones((2, 13)), np.full(2, 10.0), False),
        "target of other shape": (pred, target[:1], np.ones((2, 13)), np.full(2, 10.0), None),
        "mask of other shape": (pred, target, np.ones((2, 12)), np.full(2, 10.0), False),
        "normalizer 0": (pred, target, np.ones((2, 13)), np.zeros(2), None),
        "normalizer NaN": (pred, target, np.ones((2, 13)), np.full(2, math.nan), None),
        "pred NaN": (np.full_like(pred, math.nan), target, np.ones((2, 13)), np.full(2, 10.0), True),
        "strings": (np.array([["a"]]), target, np.ones((2, 13)), np.full(2, 10.0), False),
    }
    for label, (p, t, m, n, valid) in bad_inputs.items():
        yield Case("metrics", f"pck {label}", lambda p=p, t=t, m=m, n=n: pck(p, t, m, n, "penn_action"),
                   ("pred", "target", "mask", "normalizer"), valid, pck_check)  # fmt: skip

    def frame(people=1, head=True, joints=17, box=(0.0, 0.0, 10.0, 10.0)):
        out = {"keypoints": np.full((people, joints, 2), 5.0), "annotated": np.ones((people, joints), bool)}
        if head:
            out["head_box"] = np.tile(np.array(box), (people, 1))
        return out

    def pred(people=1, joints=17, scores=17):
        return {"keypoints": np.full((people, joints, 2), 5.0), "scores": np.ones((people, scores))}

    for label, gt, pr, valid in [
        ("perfect", [frame()], [pred()], True),
        ("no head_box", [frame(head=False)], [pred()], False),
        ("zero-size head box", [frame(box=(5.0, 5.0, 5.0, 5.0))], [pred()], None),
        ("keypoints of 16 joints", [frame(joints=16)], [pred()], False),
        ("scores of 16 joints", [frame()], [pred(scores=16)], False),
        ("fewer prediction frames", [frame(), frame()], [pred()], False),
        ("no people", [frame(people=0)], [pred(people=0)], None),
    ]:  # fmt: skip
        names = ("head_box", "keypoints", "scores", "gt_frames", "pred_frames", "frame")
        yield Case("metrics", f"posetrack_map {label}", lambda gt=gt, pr=pr: posetrack_map(gt, pr), names, valid,
                   pck_check)  # fmt: skip


def reader_cases(folder: Path):
    from posemods.data.posetrack import read_posetrack_videos
    from posemods.skeletons import POSETRACK_17

    rng = np.random.default_rng(1)
    keys = ["annotations", "images", "annolist", "id", "image_id", "keypoints", "file_name", "categories",
            "vid_id", "frame_id", "track_id", "bbox_head", "is_labeled", "x"]  # fmt: skip

    def value(depth=0):
        kind = rng.integers(0, 6 if depth < 3 else 4)
        if kind == 0:
            return None
        if kind == 1:
            return int(rng.integers(-2, 5))
        if kind == 2:
            return float(rng.normal())
        if kind == 3:
            return str(rng.choice(["", "a", "x.jpg"]))
        if kind == 4:
            return [value(depth + 1) for _ in range(rng.integers(0, 4))]
        return {str(rng.choice(keys)): value(depth + 1) for _ in range(rng.integers(0, 4))}

    good_2018 = {
        "images": [{"id": 1, "file_name": "images/v/000001.jpg", "is_labeled": True, "frame_id": 1, "vid_id": "v"}],
        "annotations": [{"image_id": 1, "track_id": 0, "keypoints": [5.0, 5.0, 1.0] * 17,
                         "bbox_head": [0.0, 0.0, 10.0, 10.0]}],
        "categories": [{"name": "person", "keypoints": list(POSETRACK_17.joint_names)}],
    }  # fmt: skip

    def mutated(doc):
        """``doc`` with one value somewhere replaced by a random one, or removed."""
        doc = json.loads(json.dumps(doc))
        node = doc
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                return doc
            key = keys[int(rng.integers(0, len(keys)))]
            child = node[key]
            if isinstance(child, (dict, list)) and child and rng.random() < 0.7:
                node = child
                continue
            if isinstance(node, dict) and rng.random() < 0.3:
                del node[key]
            else:
                node[key] = value(2)
            return doc

    documents = [(f"random JSON {i}", json.dumps(value())) for i in range(10)]
    documents += [(f"random object {i}", json.dumps({k: value(1) for k in rng.choice(keys[:4], 2)})) for i in range(10)]
    documents += [(f"valid 2018, one value changed ({i})", json.dumps(mutated(good_2018))) for i in range(30)]
    text = json.dumps(good_2018)
    documents += [(f"valid 2018 cut by {cut} chars", text[: len(text) - cut]) for cut in (1, 10, 100)]
    documents += [("empty file", ""), ("not JSON", "hello"), ("a list", "[]"), ("valid 2018", text)]
    for index, (label, doc) in enumerate(documents):
        path = folder / f"posetrack-{index}.json"

        def call(path=path, doc=doc):
            path.write_text(doc)
            return read_posetrack_videos(path)

        yield Case(
            "readers", f"read_posetrack_videos {label}", call, (path.name,), True if label == "valid 2018" else None
        )

    try:
        import scipy.io  # noqa: F401
    except ImportError:
        return
    from posemods.data.penn_action import read_penn_action

    for label, data in [("empty .mat", b""), ("truncated .mat", b"MATLAB 5.0 MAT-file" + b"\0" * 20),
                        ("text as .mat", b"hello")]:  # fmt: skip
        root = folder / f"penn-{label.replace(' ', '-')}"

        def call(root=root, data=data):
            (root / "labels").mkdir(parents=True, exist_ok=True)
            (root / "frames" / "0001").mkdir(parents=True, exist_ok=True)
            (root / "labels" / "0001.mat").write_bytes(data)
            return read_penn_action(root, "train")

        yield Case("readers", f"read_penn_action {label}", call, ("0001.mat",), False)


def _not_all_zero(heatmaps):
    assert float(heatmaps.max()) > 0, "all-zero targets"


def data_cases():
    from posemods.data import SyntheticPoseVideos
    from posemods.data.heatmaps import gaussian_heatmaps

    for sigma in WEIRD_REALS:
        ok = is_positive_real(sigma)

        def heat_check(out):
            maps = out[0][0]
            assert maps.isfinite().all() and float(maps[3, 3]) == 1.0, "the joint's pixel must peak at 1"

        yield Case("data", f"gaussian_heatmaps(sigma={sigma!r})",
                   lambda s=sigma: gaussian_heatmaps(torch.tensor([[13.5, 13.5]]), torch.ones(1), (8, 8), (32, 32), s),
                   ("sigma",), ok or False, heat_check)  # fmt: skip
        yield Case("data", f"SyntheticPoseVideos(sigma={sigma!r})",
                   lambda s=sigma: SyntheticPoseVideos(1, 2, (32, 32), (8, 8), sigma=s)[0]["heatmaps"],
                   ("sigma",), ok or False, _not_all_zero)  # fmt: skip
    for size in [(32, 32), (0, 0), (32,), (-1, 8), None, "32", (np.int64(16), 16), (16.0, 16)]:
        ok = is_size(size)
        yield Case("data", f"SyntheticPoseVideos(frame_size={size!r})",
                   lambda s=size: SyntheticPoseVideos(1, 2, s, (8, 8))[0]["frames"],
                   ("frame_size",), ok or False, None)  # fmt: skip


def checkpoint_cases(folder: Path):
    from posemods.models import read_state_dict
    from posemods.training.checkpoint import read_checkpoint, save_checkpoint

    source = folder / "source.pt"
    weights = {"w": torch.arange(256, dtype=torch.float32), "b": torch.ones(3, dtype=torch.float64)}
    save_checkpoint(source, config={"model": "kimnet"}, model=weights, step=7)
    good = source.read_bytes()
    rng = np.random.default_rng(2)

    def same(state):
        state = state.get("model", state)
        for name, tensor in weights.items():
            assert torch.equal(state[name], tensor), f"{name} changed but loaded"

    damaged = [(f"byte {int(at)} flipped", bytes(b ^ 0xFF if i == at else b for i, b in enumerate(good)))
               for at in rng.integers(0, len(good), 40)]  # fmt: skip
    damaged += [(f"truncated to {n} bytes", good[:n]) for n in (0, 10, len(good) // 2, len(good) - 1)]
    damaged += [("text", b"epoch,loss\n"), ("a plain pickle", b"\x80\x04K\x01.")]
    for i, (label, data) in enumerate(damaged):
        path = folder / f"damaged-{i}.pt"
        path.write_bytes(data)
        yield Case(
            "checkpoints", f"read_checkpoint, {label}", lambda p=path: read_checkpoint(p), (path.name,), None, same
        )
        yield Case(
            "checkpoints", f"read_state_dict, {label}", lambda p=path: read_state_dict(p), (path.name,), None, same
        )

    # The CLIs' loading path: evaluate and resume on files that are not usable checkpoints.
    from posemods.evaluate import score_checkpoint
    from posemods.training import TrainConfig, fit

    no_config = folder / "no-config.pt"
    save_checkpoint(no_config, model=weights)
    cases = [("empty", folder / "damaged-40.pt"), ("text", folder / "damaged-44.pt"), ("no config", no_config),
             ("missing", folder / "missing.pt")]  # fmt: skip
    for label, path in cases:
        yield Case(
            "checkpoints", f"evaluate, {label} file", lambda p=path: score_checkpoint(str(p)), (path.name,), False
        )
        config = dict(preset="tiny", input_size=(32, 32), clip_length=2, train_clips=4, batch_size=4, eval_clips=1,
                      max_steps=0, progress=False, out=str(folder / "run"))  # fmt: skip
        yield Case("checkpoints", f"train --resume, {label} file",
                   lambda p=path, c=config: fit(TrainConfig(**c, resume=str(p))), (path.name,), False)  # fmt: skip


def model_cases():
    from posemods.models import get_model_spec

    for name in ("kimnet", "rpstn", "dkd", "lstmpm", "vremd"):
        spec = get_model_spec(name)
        size = (32, 32)
        h, w = spec.heatmap_size(size)
        model = spec.create(13, None, "tiny", size, 3).eval()
        key = spec.output == "key"
        for label, video, valid in [
            ("B=0", torch.rand(0, 3, 3, *size), True),
            ("T=0", torch.rand(1, 0, 3, *size), False),
            ("float64 video", torch.rand(1, 3, 3, *size, dtype=torch.float64), False),
            ("NaN frame", torch.rand(1, 3, 3, *size).index_fill_(1, torch.tensor([1]), math.nan), True),
            ("33 x 33 frames", torch.rand(1, 3, 3, 33, 33), None),
        ]:  # fmt: skip
            b = video.shape[0]
            shape = (b, 13, h, w) if key else (b, 3, 13, h, w)

            def check(out, shape=shape, label=label, name=name):
                out = out[0] if isinstance(out, tuple) else out
                if name == "lstmpm":  # LSTM Pose Machines predict a background map after the joints
                    shape = (*shape[:-3], 14, *shape[-2:])
                assert tuple(out.shape) == shape, f"shape {tuple(out.shape)}, expected {shape}"
                if label == "NaN frame":
                    assert out.isnan().any(), "NaN in, no NaN out"

            def call(model=model, video=video):
                with torch.no_grad():
                    return model(video)

            names = ("video", "T", "B", "dtype", "input", "frames", "size", "stride")
            yield Case("models", f"{name} {label}", call, names, valid, check if valid else None)


def config_cases():
    from posemods.training import TrainConfig

    for field_name in ("sigma", "alpha", "batch_size", "clip_length", "input_size", "split"):
        for value in [*WEIRD_REALS, *WEIRD_INTS[4:], (32, 32), (0, 0), "x", "1"]:
            if field_name in ("sigma", "alpha"):
                valid = is_positive_real(value)
            elif field_name == "input_size":
                valid = is_size(value)
            elif field_name == "split":
                valid = None if value is None else False  # synthetic data has no splits
            else:
                valid = is_positive_int(value)
            build = lambda f=field_name, v=value: TrainConfig(**{f: v})
            yield Case("config", f"TrainConfig({field_name}={value!r})", build, (field_name,), valid)


AREAS = {
    "modules": lambda folder: module_cases(),
    "functional": lambda folder: functional_cases(),
    "metrics": lambda folder: metric_cases(),
    "readers": reader_cases,
    "data": lambda folder: data_cases(),
    "checkpoints": checkpoint_cases,
    "models": lambda folder: model_cases(),
    "config": lambda folder: config_cases(),
}
