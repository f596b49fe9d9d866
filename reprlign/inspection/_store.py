"""Features to disk: named layers written chunk by chunk, resumable, read back as dask arrays."""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import shutil
from pathlib import Path

import numpy as np

MANIFEST = "reprlign-features.json"
FORMATS = ("auto", "zarr", "npy")
_VERSION = 1


class StoreMismatchError(ValueError):
    """A feature store on disk was written by another model, layer set, dataset or layout.

    Raised by :func:`extract_to_disk` when it would resume into such a store;
    the message lists every field that differs.
    """


# --------------------------------------------------------------------------- on-disk arrays
class _NpyRows:
    """One layer's ``.npy`` file, read by rows through a memory map opened per access.

    Only the path travels when a dask task is sent to a worker (a pickled
    ``np.memmap`` would carry its whole contents), so every worker reads just
    the rows of its own chunks from the shared file system.
    """

    def __init__(self, file, shape, dtype):
        self.file = str(file)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        return np.array(np.load(self.file, mmap_mode="r")[key])


def _zarr():
    try:
        import zarr
    except ImportError as exc:  # pragma: no cover - exercised where zarr is missing
        raise ImportError("format='zarr' needs zarr 3 (pip install 'reprlign[zarr]'); "
                          "format='npy' writes .npy memory maps instead") from exc
    return zarr


def _resolve_format(format):
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if format != "auto":
        return format
    try:
        import zarr  # noqa: F401
    except ImportError:
        return "npy"
    return "zarr"


def _create_arrays(path, fmt, specs, chunk_size, dtype):
    """Allocate every layer's array (zeros are not written: both formats are sparse)."""
    if fmt == "zarr":
        group = _zarr().open_group(str(path), mode="a")
        for spec in specs:
            group.create_array(spec["key"], shape=tuple(spec["shape"]),
                               chunks=(chunk_size, *spec["shape"][1:]), dtype=dtype,
                               overwrite=True)
        return
    for spec in specs:
        np.lib.format.open_memmap(path / f"{spec['key']}.npy", mode="w+", dtype=dtype,
                                  shape=tuple(spec["shape"])).flush()


def _write_rows(path, fmt, key, start, data):
    if fmt == "zarr":
        array = _zarr().open_array(str(path / key), mode="r+")
        array[start:start + len(data)] = data
        return
    mm = np.load(path / f"{key}.npy", mmap_mode="r+")
    mm[start:start + len(data)] = data
    mm.flush()
    del mm


# --------------------------------------------------------------------------- the manifest
def _read_manifest(path):
    file = Path(path) / MANIFEST
    if not file.is_file():
        return None
    with open(file) as fh:
        return json.load(fh)


def _write_manifest(path, manifest):
    """Replace the manifest atomically: an interruption leaves the old one or the new one."""
    file = Path(path) / MANIFEST
    tmp = file.with_suffix(".json.tmp")
    with open(tmp, "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, file)


def _parameter_checksum(model):
    """SHA-256 of every parameter and buffer (names, dtypes, shapes and bytes)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{t.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _pooling_name(extractor, layer):
    pooling = extractor.pooling
    if isinstance(pooling, dict):
        pooling = pooling.get(layer, "mean")
    return pooling if isinstance(pooling, str) else getattr(pooling, "__qualname__",
                                                            type(pooling).__name__)


def _fingerprint(extractor, n):
    model = type(extractor.model)
    dims = {layer: d if isinstance(d, int) else list(d)
            for layer, d in extractor.output_dims_.items()}
    return {
        "model": f"{model.__module__}.{model.__qualname__}",
        "parameters": _parameter_checksum(extractor.model),
        "layers": list(extractor.layers_),
        "output_dims": dims,
        "pooling": {layer: _pooling_name(extractor, layer) for layer in extractor.layers_},
        "n_samples": int(n),
    }


def _differences(old, new):
    return [f"{key}: store has {old.get(key)!r}, now {new.get(key)!r}"
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


# --------------------------------------------------------------------------- the data
def _n_rows(X):
    from torch.utils.data import DataLoader, Dataset, IterableDataset

    if isinstance(X, DataLoader | IterableDataset):
        raise TypeError("X must give random access to its rows so that finished chunks can be "
                        "skipped: pass an array, a tensor or a map-style Dataset (for a "
                        "DataLoader, its .dataset), not a "
                        f"{type(X).__name__}")
    if isinstance(X, Dataset):
        return len(X)
    if not hasattr(X, "shape") or len(X.shape) < 2:
        raise TypeError(f"X must be an array or tensor of shape (n, ...) or a map-style "
                        f"Dataset, got {type(X).__name__}")
    return int(X.shape[0])


def _rows(X, start, stop):
    """Rows ``start:stop`` of an array, a tensor or a map-style Dataset."""
    from torch.utils.data import Dataset, Subset

    if isinstance(X, Dataset):
        return Subset(X, range(start, stop))
    return X[start:stop]


def _to_host(out, dtype):
    out = out.detach()
    if not out.is_floating_point() or out.element_size() < 4:
        out = out.float()
    return out.cpu().numpy().astype(dtype, copy=False)


def _check_int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- public API
class FeatureStore:
    """Features of named layers stored on disk in row chunks, read as dask arrays.

    A store is a directory written by :func:`extract_to_disk`: one chunked
    array per layer (zarr arrays, or ``.npy`` files read through memory maps)
    and a small JSON manifest that records the fingerprint of the model and
    layers that wrote it and which chunks are complete. Opening a store reads
    only the manifest.

    Parameters
    ----------
    path : str or path-like
        The store's directory.

    Attributes
    ----------
    path : pathlib.Path
        The store's directory.
    format : {"zarr", "npy"}
        How the arrays are stored.
    layers : list of str
        Layer names, in the order they were extracted.
    shapes : dict
        Layer name -> shape ``(n_samples, ...)`` of its array.
    n_samples : int
        Rows (stimuli) in every array.
    chunk_size : int
        Rows per chunk; the last chunk may be shorter.
    dtype : numpy.dtype
        The stored dtype.
    chunks_done : list of int
        Indices of the chunks written completely.
    complete : bool
        Whether every chunk is written.

    See Also
    --------
    extract_to_disk : write (or resume) a store.
    reprlign.measures.cka : linear CKA, which accepts the dask arrays of a store.

    Examples
    --------
    >>> import numpy as np, torch, tempfile, os
    >>> from reprlign import FeatureExtractor, FeatureStore, extract_to_disk
    >>> net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    >>> X = np.random.RandomState(0).rand(100, 6).astype(np.float32)
    >>> path = os.path.join(tempfile.mkdtemp(), "features")
    >>> store = extract_to_disk(FeatureExtractor(net, ["1", "2"]), X, path, chunk_size=32)
    >>> store.complete, store.shapes["1"], store["1"].chunks[0]
    (True, (100, 8), (32, 32, 32, 4))
    >>> FeatureStore(path)["2"].compute().shape
    (100, 4)
    """

    def __init__(self, path):
        self.path = Path(path)
        manifest = _read_manifest(self.path)
        if manifest is None:
            raise FileNotFoundError(f"{str(self.path)!r} is not a feature store (no {MANIFEST})")
        self._manifest = manifest
        self.format = manifest["format"]
        self.chunk_size = manifest["chunk_size"]
        self.dtype = np.dtype(manifest["dtype"])
        self.n_samples = manifest["fingerprint"]["n_samples"]
        self.layers = [spec["name"] for spec in manifest["arrays"]]
        self.shapes = {spec["name"]: tuple(spec["shape"]) for spec in manifest["arrays"]}
        self._keys = {spec["name"]: spec["key"] for spec in manifest["arrays"]}
        self.chunks_done = sorted(manifest["done"])
        self.complete = len(self.chunks_done) == self.n_chunks

    @property
    def n_chunks(self):
        """Number of row chunks."""
        return -(-self.n_samples // self.chunk_size)

    @property
    def fingerprint(self):
        """What wrote the store: model class, parameter checksum, layers, widths, pooling, n."""
        return dict(self._manifest["fingerprint"])

    def __repr__(self):
        return (f"FeatureStore({str(self.path)!r}, format={self.format!r}, "
                f"layers={self.layers}, n_samples={self.n_samples}, "
                f"chunks={len(self.chunks_done)}/{self.n_chunks})")

    def __getitem__(self, layer):
        """The layer's features as a dask array, chunked like the store (rows only)."""
        import dask.array as da

        if layer not in self.shapes:
            raise KeyError(f"layer {layer!r} is not in the store; it holds {self.layers}")
        if not self.complete:
            missing = sorted(set(range(self.n_chunks)) - set(self.chunks_done))
            raise ValueError(
                f"the store at {str(self.path)!r} is incomplete: chunks {missing[:10]} of "
                f"{self.n_chunks} are not written; run extract_to_disk again to resume")
        shape, key = self.shapes[layer], self._keys[layer]
        chunks = (self.chunk_size, *shape[1:])
        # Same store, same keys (dask shares the reads); a rewritten store gets new ones.
        token = json.dumps([str(self.path.resolve()), key, self._manifest["fingerprint"]])
        name = f"reprlign-store-{hashlib.sha256(token.encode()).hexdigest()}"
        if self.format == "zarr":
            return da.from_zarr(_zarr().open_array(str(self.path / key), mode="r"), name=name)
        source = _NpyRows(self.path / f"{key}.npy", shape, self.dtype)
        return da.from_array(source, chunks=chunks, name=name,
                             meta=np.empty((0,) * len(shape), dtype=self.dtype))

    def to_dask(self):
        """Every layer as a dask array: ``{layer: array}`` in extraction order."""
        return {layer: self[layer] for layer in self.layers}


def extract_to_disk(extractor, X, path, *, chunk_size=8192, dtype="float32", format="auto",
                    overwrite=False):
    """Extract named layers of a torch model over a large dataset into an on-disk store.

    The rows of ``X`` are processed in chunks of ``chunk_size``: the extractor
    runs over one chunk (batch by batch), the chunk's features are written to
    every layer's array, and only then is the chunk recorded as complete in the
    store's manifest. Calling the function again with the same extractor and
    data after an interruption resumes: finished chunks are not run again.

    Parameters
    ----------
    extractor : FeatureExtractor
        The model, layers, pooling, batch size and device. It is fitted on the
        first rows of ``X`` (one forward pass) to learn each layer's width.
    X : array-like, torch.Tensor or map-style torch Dataset
        Inputs of shape ``(n, ...)``. Rows must be addressable, so that a
        resumed run can skip finished chunks: pass a ``DataLoader``'s
        ``.dataset``, not the loader.
    path : str or path-like
        The store's directory (created if needed).
    chunk_size : int, default=8192
        Rows per chunk: the unit of writing, of resuming and of the dask
        arrays read back. Host memory holds one chunk of every layer.
    dtype : str, default="float32"
        Floating dtype of the stored features.
    format : {"auto", "zarr", "npy"}, default="auto"
        ``"zarr"`` writes zarr arrays (the optional ``zarr`` extra, a format
        dask reads natively and other tools open); ``"npy"`` writes one
        ``.npy`` file per layer, read through memory maps; ``"auto"`` is
        ``"zarr"`` where zarr is installed.
    overwrite : bool, default=False
        Delete a store found at ``path`` (complete or not) and start afresh.
        A directory that is not a store is never deleted.

    Returns
    -------
    store : FeatureStore

    Raises
    ------
    StoreMismatchError
        When ``path`` holds a store written by another model (class or
        parameters), layer set, pooling, number of samples or layout
        (``chunk_size``, ``dtype``, ``format``); pass ``overwrite=True`` or
        another path.

    See Also
    --------
    FeatureStore : open a store and read it as dask arrays.
    reprlign.measures.layer_similarity : layer x layer CKA, also over stores.

    Notes
    -----
    A chunk interrupted half-way is written again on resume; the manifest is
    replaced atomically after each chunk's data is flushed. One process writes
    a store at a time. The fingerprint checks that a resumed run uses the same
    model and layers as the first; it does not read the inputs, so resuming
    over other data of the same length is not detected.

    Examples
    --------
    See :class:`FeatureStore`.
    """
    from ._extractor import FeatureExtractor

    if not isinstance(extractor, FeatureExtractor):
        raise TypeError(f"extractor must be a FeatureExtractor, got {type(extractor).__name__}")
    chunk_size = _check_int(chunk_size, "chunk_size", 1)
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"dtype must be a floating numpy dtype name, got {dtype!r}") from exc
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype}")
    if overwrite not in (True, False):
        raise TypeError(f"overwrite must be a bool, got {overwrite!r}")
    fmt = _resolve_format(format)
    n = _n_rows(X)
    if n < 1:
        raise ValueError("X is empty: no rows to extract")
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or path-like, got {type(path).__name__}")
    path = Path(path)

    extractor.fit(_rows(X, 0, min(n, extractor.batch_size)))
    fingerprint = _fingerprint(extractor, n)
    layout = {"format": fmt, "chunk_size": chunk_size, "dtype": dtype.name}
    specs = []
    for i, layer in enumerate(extractor.layers_):
        d = extractor.output_dims_[layer]
        specs.append({"name": layer, "key": f"layer_{i}",
                      "shape": [n, *([d] if isinstance(d, int) else d)]})

    manifest = _read_manifest(path)
    if manifest is not None and overwrite:
        shutil.rmtree(path)  # a store (it has a manifest): remove it whole, arrays included
        manifest = None
    if manifest is not None:
        old = {**manifest["fingerprint"], **{k: manifest[k] for k in layout}}
        diffs = _differences(old, {**fingerprint, **layout})
        if diffs:
            raise StoreMismatchError(
                f"the store at {str(path)!r} was written by another model, layer set or "
                f"layout: {'; '.join(diffs)}. Pass overwrite=True to start afresh, or another "
                "path")
    else:
        if path.exists() and not path.is_dir():
            raise ValueError(f"path {str(path)!r} exists and is not a directory")
        if path.is_dir() and any(path.iterdir()):
            raise ValueError(f"path {str(path)!r} is a non-empty directory that is not a "
                             "feature store; choose another path")
        path.mkdir(parents=True, exist_ok=True)
        manifest = {"reprlign_features": _VERSION, **layout, "fingerprint": fingerprint,
                    "arrays": specs, "done": []}
        _write_manifest(path, manifest)
    done = set(manifest["done"])
    if not done:  # new, or interrupted before its first chunk (perhaps while allocating)
        _create_arrays(path, fmt, specs, chunk_size, dtype)
    for c in range(-(-n // chunk_size)):
        if c in done:
            continue
        start, stop = c * chunk_size, min(n, (c + 1) * chunk_size)
        buffers = [np.empty((stop - start, *spec["shape"][1:]), dtype=dtype) for spec in specs]
        row = start
        for batch in extractor.iter_extract(_rows(X, start, stop)):
            outs = list(batch.values())
            b = outs[0].shape[0]
            if row + b > stop:
                raise ValueError(f"X yielded more than the {stop - start} rows of chunk {c}")
            for buf, out in zip(buffers, outs, strict=True):
                buf[row - start:row - start + b] = _to_host(out, dtype)
            row += b
        if row != stop:
            raise ValueError(f"X yielded {row - start} rows for chunk {c}, expected {stop - start}")
        for spec, buf in zip(specs, buffers, strict=True):
            _write_rows(path, fmt, spec["key"], start, buf)
        done.add(c)
        manifest["done"] = sorted(done)
        _write_manifest(path, manifest)
    return FeatureStore(path)
