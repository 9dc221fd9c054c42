"""The ``compress`` and ``decompress`` commands: thin layers over :func:`sinetune.codec.compress` and
:func:`sinetune.codec.decompress` (registered by :mod:`sinetune.cli`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import SinetuneError
from .progress import Progress


def add_codec_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``compress`` and ``decompress`` to the ``sinetune`` sub-command parser ``commands``."""
    from .codec import CODEC_METHODS, CodecOptions

    defaults = CodecOptions()
    compress = commands.add_parser("compress", help="compress an image to a .stn file (a quantised, entropy-coded "
                                                    "sinusoidal field) at a target bpp or PSNR")
    compress.add_argument("image", metavar="IMAGE", help="image file or built-in name (astronaut, camera, ...)")
    target = compress.add_mutually_exclusive_group(required=True)
    target.add_argument("--bpp", type=float, metavar="X", help="at most X bits per pixel (file size); the "
                                                               "highest-PSNR network within it is kept")
    target.add_argument("--psnr", type=float, metavar="Y", help="at least Y dB PSNR of the decoded 8-bit image; "
                                                                "the smallest network reaching it is kept")
    compress.add_argument("-o", "--out", type=Path, metavar="FILE.stn", help="output file (default IMAGE_STEM.stn "
                                                                             "in the current directory)")
    compress.add_argument("--method", choices=CODEC_METHODS, default="tuner", help="network family (default tuner)")
    compress.add_argument("--size", type=int, metavar="N", help="resize the image so its longer side is N pixels "
                                                                "first (default: its own size)")
    compress.add_argument("--steps", type=int, metavar="N", default=defaults.steps,
                          help=f"optimizer steps per fitted network (default {defaults.steps}, batches of "
                               f"{defaults.batch_size} pixels)")
    compress.add_argument("--qat-steps", type=int, metavar="N", default=defaults.qat_steps,
                          help=f"steps of the quantisation-aware fine-tune of the chosen network (default "
                               f"{defaults.qat_steps}; 0: none)")
    compress.add_argument("--dictionary", choices=("sampled", "spectrum"), default=defaults.dictionary,
                          help="TUNER's input frequencies: sampled (dense low, sparse high; default) or spectrum "
                               "(the image's own strongest frequencies)")
    compress.add_argument("--coder", choices=("ans", "zlib"), default=defaults.coder,
                          help="entropy coder: ans (constriction, default) or zlib (the simple baseline)")
    compress.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu",
                          help="where the fits run (default cpu); decoding is always measured on the CPU")
    compress.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    compress.add_argument("--quiet", action="store_true", help="print nothing but the result, warnings and errors")

    decompress = commands.add_parser("decompress", help="decode a .stn file to an image")
    decompress.add_argument("file", type=Path, metavar="FILE.stn")
    decompress.add_argument("-o", "--out", type=Path, metavar="OUT.png",
                            help="output image (PNG, TIFF, BMP, WebP; default FILE_STEM-decoded.png beside the file)")
    decompress.add_argument("--size", type=int, metavar="N", help="render with the longer side N pixels (default: "
                                                                  "the compressed image's size)")
    decompress.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def command_compress(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .codec import CodecOptions, compress

    if args.steps < 1:
        raise SinetuneError(f"--steps must be a positive integer, got {args.steps}")
    out = args.out if args.out is not None else Path(Path(args.image).stem + ".stn")
    options = replace(CodecOptions(), steps=args.steps, qat_steps=args.qat_steps, coder=args.coder,
                      dictionary=args.dictionary)
    result = compress(args.image, out, bpp=args.bpp, psnr=args.psnr, method=args.method, options=options,
                      size=args.size, device=args.device, overwrite=args.overwrite,
                      progress=Progress(quiet=args.quiet))
    chosen = result.chosen
    print(f"wrote {result.path}: {chosen.bytes} bytes, {chosen.bpp:.4f} bpp, PSNR {chosen.psnr:.2f} dB, "
          f"SSIM {chosen.ssim:.4f} ({result.method} width {chosen.width}, {chosen.bits} bits, "
          f"{len(result.candidates)} networks tried in {result.seconds:.0f} s)")
    return 0


def command_decompress(args: argparse.Namespace) -> int:
    from .codec import decompress

    out = args.out if args.out is not None else args.file.with_name(f"{args.file.stem}-decoded.png")
    image = decompress(args.file, args.size, out, args.overwrite)
    print(f"wrote {out} ({image.shape[1]}×{image.shape[0]})")
    return 0


CODEC_COMMANDS = {"compress": command_compress, "decompress": command_decompress}

__all__ = ["CODEC_COMMANDS", "add_codec_commands", "command_compress", "command_decompress"]
