"""``attriflow roar-mask``: ROAR's pixel removal on stored arrays (no model needed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from attriflow.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roar-mask", help="replace the top fraction of pixels (by stored maps) with a fill colour")
    p.add_argument("--images", required=True, help=".npz with 'images' (N, C, H, W) in [0, 1]; other arrays are copied")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--maps", help=".npz with 'maps' (N, H, W), e.g. an attribution file")
    src.add_argument("--random", type=int, metavar="SEED", help="uniform random maps from SEED (ROAR's baseline)")
    p.add_argument("--fraction", type=float, required=True, help="share of pixels removed, 0..1 (0.3 = 30%%)")
    p.add_argument("--fill", default="channel_mean",
                   help="channel_mean (default), image_channel_mean, a number, or C comma-separated values")
    p.add_argument("--fill-from", metavar="NPZ", help="take the channel_mean colour from these images (the train set)")
    p.add_argument("--absolute", action="store_true", help="rank pixels by |map|")
    p.add_argument("--seed", type=int, default=0, help="seed of the random tie-breaking among equal map values")
    p.add_argument("--out", required=True, help="output .npz: the input arrays with 'images' masked")
    p.set_defaults(func=_roar_mask)


def _fill(text: str):
    if text in ("channel_mean", "image_channel_mean"):
        return text
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"--fill {text!r}: expected channel_mean, image_channel_mean, a number or comma-separated numbers") from None
    return values[0] if len(values) == 1 else values


def _images(path: str) -> dict:
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if "images" not in arrays:
        raise UserError(f"{path}: no 'images' array (has {', '.join(arrays) or 'nothing'})")
    return arrays


def _roar_mask(args) -> int:
    import numpy as np
    import torch

    from attriflow.evaluation.masking import fill_colour, remove_top
    from attriflow.evaluation.roar import random_maps
    from attriflow.utils.io import save_npz

    arrays = _images(args.images)
    images = torch.from_numpy(arrays["images"]).float()
    if args.maps:
        with np.load(args.maps, allow_pickle=False) as data:
            if "maps" not in data.files:
                raise UserError(f"{args.maps}: no 'maps' array (has {', '.join(data.files)})")
            maps = torch.from_numpy(data["maps"]).float()
    else:
        maps = random_maps(len(images), images.shape[-2], images.shape[-1], seed=args.random)
    fill = _fill(args.fill)
    if args.fill_from:
        if fill != "channel_mean":
            raise UserError("--fill-from takes the channel_mean colour of another set; drop --fill or set it to channel_mean")
        fill = fill_colour(torch.from_numpy(_images(args.fill_from)["images"]).float(), "channel_mean")
    arrays["images"] = remove_top(images, maps, args.fraction, fill, absolute=args.absolute, seed=args.seed).numpy()
    save_npz(Path(args.out), **arrays)
    print(f"wrote {args.out}")
    return 0
