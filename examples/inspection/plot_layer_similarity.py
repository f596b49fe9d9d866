"""
Layer by layer: a CNN, a ViT and an MLP-Mixer on digits
=======================================================

Raghu et al. (2021) compared vision transformers and CNNs layer by layer with
minibatch CKA; Bhojanapalli et al. (2021) probed how their representations
react to noise and to removing a block; Tolstikhin et al. (2021) proposed the
MLP-Mixer. This example repeats the three analyses on models small enough to
train in seconds on the handwritten digits that ship with scikit-learn
(1,797 real 8 x 8 images):

* :class:`reprlign.FeatureExtractor` hooks named submodules;
* :func:`reprlign.model_layer_similarity` gives the layer x layer CKA
  heatmaps, in one pass over the images;
* :func:`reprlign.perturbation_robustness` and
  :func:`reprlign.block_removal_robustness` give tidy arrays ready to plot.
"""

# %%
# Three small models
# ------------------
# A CNN, a ViT-style transformer (2 x 2 patches, a class token, pre-norm
# residual blocks) and a Mixer (token-mixing and channel-mixing MLPs), each
# trained for a few epochs.
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from reprlign import (
    FeatureExtractor,
    block_removal_robustness,
    model_layer_similarity,
    perturbation_robustness,
)
from reprlign.plotting import plot_layer_similarity, plot_robustness

torch.manual_seed(0)
torch.set_num_threads(1)  # tiny models: one thread avoids OpenMP spin on a busy machine
digits = load_digits()
X = (digits.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8)
y = digits.target
train = np.random.RandomState(0).rand(len(X)) < 0.7


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.conv3 = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.ReLU())
        self.conv4 = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))

    def forward(self, x):
        return self.head(self.conv4(self.conv3(self.conv2(self.conv1(x)))))


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, 4, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class MixerBlock(nn.Module):
    def __init__(self, tokens, dim):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.tokens = nn.Sequential(nn.Linear(tokens, 2 * tokens), nn.GELU(),
                                    nn.Linear(2 * tokens, tokens))
        self.channels = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        x = x + self.tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channels(self.norm2(x))


class Patches(nn.Module):
    def __init__(self, dim, cls_token):
        super().__init__()
        self.proj = nn.Conv2d(1, dim, 2, stride=2)  # 16 patches of 2 x 2 pixels
        self.pos = nn.Parameter(torch.randn(1, 16 + cls_token, dim) * 0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim)) if cls_token else None

    def forward(self, x):
        t = self.proj(x).flatten(2).transpose(1, 2)
        if self.cls is not None:
            t = torch.cat([self.cls.expand(len(t), -1, -1), t], dim=1)
        return t + self.pos


class ViT(nn.Module):
    def __init__(self, dim=32, depth=4):
        super().__init__()
        self.embed = Patches(dim, cls_token=True)
        self.blocks = nn.Sequential(*[Block(dim) for _ in range(depth)])
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 10))

    def forward(self, x):
        return self.head(self.blocks(self.embed(x))[:, 0])


class Mixer(nn.Module):
    def __init__(self, dim=32, depth=4):
        super().__init__()
        self.embed = Patches(dim, cls_token=False)
        self.blocks = nn.Sequential(*[MixerBlock(16, dim) for _ in range(depth)])
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 10))

    def forward(self, x):
        return self.head(self.blocks(self.embed(x)).mean(dim=1))


def train_briefly(model, epochs=15):
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    Xt, yt = torch.from_numpy(X[train]), torch.from_numpy(y[train])
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(Xt), generator=gen).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(Xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(torch.from_numpy(X[~train])).argmax(1).numpy() == y[~train]).mean()
    return model, acc


t0 = time.perf_counter()
models = {}
for name, cls in [("CNN", CNN), ("ViT", ViT), ("Mixer", Mixer)]:
    models[name], acc = train_briefly(cls())
    print(f"{name:6s} held-out accuracy {acc:.3f}")
print(f"trained in {time.perf_counter() - t0:.1f} s")

layers = {
    "CNN": ["conv1", "conv2", "conv3", "conv4", "head"],
    "ViT": ["embed"] + [f"blocks.{i}" for i in range(4)] + ["head"],
    "Mixer": ["embed"] + [f"blocks.{i}" for i in range(4)] + ["head"],
}

# %%
# What a feature extractor returns
# --------------------------------
# Token outputs ``(n, tokens, channels)`` are averaged over tokens by
# ``pooling="mean"`` or reduced to the class token by ``"cls"``; conv maps
# ``(n, c, h, w)`` are averaged over space. The heatmaps below use
# ``"flatten"`` (every token and position kept), as Raghu et al. do.
fx = FeatureExtractor(models["ViT"], ["blocks.3", "head"], pooling="cls").fit(X)
print({k: v.shape for k, v in fx.extract(X[:5]).items()})

# %%
# Layer x layer CKA heatmaps
# --------------------------
# Each panel is one pass over 900 images in batches of 300.
S = X[:900]
pairs = [("CNN", "CNN"), ("ViT", "ViT"), ("Mixer", "Mixer"), ("ViT", "CNN"), ("ViT", "Mixer"),
         ("Mixer", "CNN")]
fig, axes = plt.subplots(2, 3, figsize=(13, 8), layout="constrained")
for ax, (a, b) in zip(axes.ravel(), pairs, strict=True):
    res = model_layer_similarity(models[a], models[b], S, layers[a], layers[b], batch_size=300)
    plot_layer_similarity(res, ax=ax, ylabel=a, xlabel=b, colorbar=ax is axes[0, -1])
    ax.set_title(f"{a} vs {b}")

# %%
# Robustness to Gaussian noise
# ----------------------------
# CKA between each layer's representation of clean and noisy images (the
# same noise pattern, scaled). Early layers track the input; later layers of
# a trained model are more (or less) invariant.
strengths = [0.0, 0.15, 0.4, 1.0]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained", sharey=True)
for ax, name in zip(axes, models, strict=True):
    rob = perturbation_robustness(models[name], S, layers[name], strengths=strengths,
                                  batch_size=300, random_state=0)
    plot_robustness(rob, ax=ax)
    ax.set_title(name)
print("tidy columns:", rob.strength[-3:], rob.layer[-3:], rob.similarity[-3:].round(3))

# %%
# Removing one block
# ------------------
# Both the ViT and the Mixer are residual, so each block can be replaced by
# the identity. Rows: the removed block; columns: where the representations
# are compared with those of the full model.
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
for ax, name in zip(axes, ["ViT", "Mixer"], strict=True):
    rem = block_removal_robustness(models[name], S, "blocks", layers=layers[name][1:],
                                   batch_size=300)
    im = ax.imshow(rem.matrix, vmin=0, vmax=1, cmap="magma")
    ax.set_yticks(range(len(rem.blocks)), [f"without {b}" for b in rem.blocks])
    ax.set_xticks(range(len(rem.layers)), rem.layers, rotation=45)
    ax.set_title(f"{name}: CKA to the full model")
fig.colorbar(im, ax=axes, label="CKA")
plt.show()
